/**
 * Audit records within a collector's size limit. RFC 5425 §4.3.1: a receiver SHOULD process syslog
 * messages of up to 8192 octets and MAY accept larger ones. A collector truncates a longer one (rsyslog
 * keeps maxMessageSize octets and takes the rest for further messages): invalid XML, audit evidence lost.
 *
 * - A message listing SOP instances (DICOM Instances Transferred, PS3.15 A.5.3.5) becomes several
 *   records, each a complete message with the same event, participants and audit source and a run of
 *   the instances (NumberOfInstances counts those in that record), each as full as the limit allows,
 *   and each marked as part k of n of one set (see partOf).
 * - Text that does not fit even so (a peer certificate subject of many KB) is cut: every field longer
 *   than a common cap keeps its start and ends with TRUNCATION_MARK, with the largest cap that fits.
 */
import { createHash } from 'node:crypto';
import type { AuditMessage, ParticipantObject } from './message.ts';

/** Ends a text field that was cut to fit; visible to whoever reads the record. */
export const TRUNCATION_MARK = '...[truncated]';

/** Text is never cut below this many characters (a DICOM UID has at most 64, PS3.5 §9.1). */
const MIN_CAP = 64;

/**
 * The smallest limit a sink may ask for: every message the gateway builds fits in it with its text
 * cut to MIN_CAP (RFC 5424 §6.1 lets receivers go as low as 480 octets, which no audit record fits).
 */
export const MIN_MESSAGE_BYTES = 4096;

type Render = (m: AuditMessage) => string;

const octets = (s: string): number => Buffer.byteLength(s, 'utf8');

/** The records for `m` as `render` writes them, each at most `maxBytes` octets long. */
export function fitAuditMessage(m: AuditMessage, maxBytes: number, render: Render): string[] {
  const whole = render(m);
  if (octets(whole) <= maxBytes) return [whole];
  const instances = new InstanceRuns(m);
  if (instances.count <= 1) return [capped(m, maxBytes, render)];
  // Long participant text is cut so that a record with one instance takes at most half the limit,
  // leaving the rest for instances instead of making one record per instance.
  const one = instances.slice(0, 1);
  const base = octets(render(one)) <= maxBytes / 2 ? m : withCap(m, largestCap(one, maxBytes / 2, render));
  // The set is named by a digest of the whole record: the same event always gets the same name, two events differ.
  const set = createHash('sha256').update(whole).digest('hex').slice(0, 16);
  return new InstanceRuns(base).split(maxBytes, render, set);
}

/** ParticipantObjectDetail types that mark a record as one part of a split event. */
export const PART_DETAIL = 'Record Part';
export const SET_DETAIL = 'Record Set';

/**
 * `m` marked as part `k` of `n` of the split event `set`. PS3.15 A.5 has no field for a record that
 * continues another. EventTypeCode would change what the event is coded as (ATNA readers select on
 * it) and EventOutcomeDescription describes the outcome; ParticipantObjectDetail is the schema's
 * place for implementation-defined type/value pairs about a participant object (A.5.1 ValuePair),
 * allowed any number of times, so the marker goes on each SOP class object of the record ("part 2 of 5"
 * and the set name), where a reader that does not know it loses nothing and the record stays schema-valid.
 */
function partOf(m: AuditMessage, k: number, n: number, set: string): AuditMessage {
  const marker = [{ type: PART_DETAIL, value: `${k} of ${n}` }, { type: SET_DETAIL, value: set }];
  return { ...m, objects: m.objects?.map((o) => (o.sopClass ? { ...o, details: [...(o.details ?? []), ...marker] } : o)) };
}

/** The SOP instances of a message's participant objects, in order, and messages with a run of them. */
class InstanceRuns {
  readonly count: number;
  private readonly offsets: number[];

  constructor(private readonly m: AuditMessage) {
    let count = 0;
    this.offsets = (m.objects ?? []).map((o) => {
      const at = count;
      count += o.sopClass?.instances.length ?? 0;
      return at;
    });
    this.count = count;
  }

  /** The message with instances [start, start + n) only; objects left without instances are left out. */
  slice(start: number, n: number): AuditMessage {
    const objects = (this.m.objects ?? []).flatMap((o, i): ParticipantObject[] => {
      if (!o.sopClass) return [o];
      const from = Math.max(0, start - this.offsets[i]);
      const to = Math.min(o.sopClass.instances.length, start + n - this.offsets[i]);
      return from < to ? [{ ...o, sopClass: { uid: o.sopClass.uid, instances: o.sopClass.instances.slice(from, to) } }] : [];
    });
    return { ...this.m, objects };
  }

  /**
   * Records taking as many instances each as fit, marked part k of n (partOf). The search for a run
   * length starts at the previous one (records are alike), doubles its step up until a run does not
   * fit, then bisects. Runs are measured with the widest marker (k = n = count), so the real one,
   * known once every run is, never makes a record longer.
   */
  split(maxBytes: number, render: Render, set: string): string[] {
    const widest = (m: AuditMessage) => render(partOf(m, this.count, this.count, set));
    const runs: Array<{ start: number; n: number; cut: boolean }> = [];
    let previous = 1;
    for (let start = 0; start < this.count;) {
      const left = this.count - start;
      let fits = 0; // longest run known to fit (0: none yet)
      let tooMany = left + 1; // shortest run known not to fit
      let probe = Math.min(previous, left);
      for (let step = 1; tooMany - fits > 1; step *= 2) {
        if (octets(widest(this.slice(start, probe))) <= maxBytes) fits = probe;
        else tooMany = probe;
        probe = tooMany > left ? Math.min(fits + step, left) : (fits + tooMany) >> 1;
      }
      // Not even one instance fits: that record gets its text cut (capped).
      runs.push({ start, n: Math.max(fits, 1), cut: fits === 0 });
      start += Math.max(fits, 1);
      previous = Math.max(fits, 1);
    }
    // One run holds every instance (long text was cut): one record, not a part of anything.
    if (runs.length === 1 && !runs[0].cut) return [render(this.slice(0, this.count))];
    return runs.map(({ start, n, cut }, i) => {
      const part = partOf(this.slice(start, n), i + 1, runs.length, set);
      return cut ? capped(part, maxBytes, render) : render(part);
    });
  }
}

/** `m` rendered with its text cut as little as possible to fit `maxBytes`. */
function capped(m: AuditMessage, maxBytes: number, render: Render): string {
  return render(withCap(m, largestCap(m, maxBytes, render)));
}

/** The largest cap (in characters) on every text field with which `m` fits `budget` octets; MIN_CAP at least. */
function largestCap(m: AuditMessage, budget: number, render: Render): number {
  const fits = (cap: number) => octets(render(withCap(m, cap))) <= budget;
  let good = MIN_CAP;
  let bad = Math.max(MIN_CAP, ...texts(m).map((s) => s.length)) + 1;
  while (bad - good > 1) {
    const mid = (good + bad) >> 1;
    if (fits(mid)) good = mid;
    else bad = mid;
  }
  return good;
}

/** Every free-text or peer-supplied value of a message (coded values are fixed and short). */
function texts(m: AuditMessage): string[] {
  return [
    m.outcomeDescription, m.sourceId,
    ...m.participants.flatMap((p) => [p.userId, p.alternativeUserId, p.userName, p.networkAccessPointId]),
    ...(m.objects ?? []).flatMap((o) => [o.id, o.name, ...(o.details ?? []).flatMap((d) => [d.type, d.value]), o.sopClass?.uid, ...(o.sopClass?.instances ?? [])]),
  ].filter((s): s is string => s !== undefined);
}

function withCap(m: AuditMessage, cap: number): AuditMessage {
  const cut = <S extends string | undefined>(s: S): S => {
    if (s === undefined || s.length <= cap) return s;
    const chars = Array.from(s); // code points: a cut never splits a surrogate pair
    return (chars.length <= cap ? s : chars.slice(0, cap - TRUNCATION_MARK.length).join('') + TRUNCATION_MARK) as S;
  };
  return {
    ...m,
    outcomeDescription: cut(m.outcomeDescription),
    sourceId: cut(m.sourceId),
    participants: m.participants.map((p) => ({ ...p, userId: cut(p.userId), alternativeUserId: cut(p.alternativeUserId), userName: cut(p.userName), networkAccessPointId: cut(p.networkAccessPointId) })),
    objects: m.objects?.map((o) => ({
      ...o,
      id: cut(o.id),
      name: cut(o.name),
      details: o.details?.map((d) => ({ type: cut(d.type), value: cut(d.value) })),
      sopClass: o.sopClass && { uid: cut(o.sopClass.uid), instances: o.sopClass.instances.map(cut) },
    })),
  };
}
