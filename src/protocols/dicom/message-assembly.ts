/**
 * DIMSE messages over P-DATA-TF (PS3.8 Annex E, PS3.7 §6.3.1): splitting a command and data set
 * into PDVs that respect the peer's maximum length, and checking the order of received fragments.
 */
import { WardgateError } from '../../errors.ts';
import { type CommandSet, decodeCommand } from './command.ts';
import { PDV_HEADER_LENGTH, type Pdv, encodePDataTf, heldFragment } from './pdata.ts';

/** Fragment size used when the peer announces 0 (no limit, PS3.8 D.1). */
export const DEFAULT_FRAGMENT_LENGTH = 16 * 1024;

/**
 * Encode one DIMSE message as P-DATA-TF PDUs, one PDV each. `peerMaxLength` is the Maximum Length
 * the peer announced (PS3.8 D.1: it bounds the P-DATA-TF variable field, PDV headers included).
 */
export function fragmentMessage(contextId: number, command: Buffer, dataSet: Buffer | undefined, peerMaxLength: number): Buffer[] {
  if (peerMaxLength !== 0 && peerMaxLength <= PDV_HEADER_LENGTH) {
    throw new WardgateError('PDU_MALFORMED', `peer maximum length ${peerMaxLength} leaves no room for PDV data`);
  }
  const size = peerMaxLength === 0 ? DEFAULT_FRAGMENT_LENGTH : peerMaxLength - PDV_HEADER_LENGTH;
  const out: Buffer[] = [];
  const split = (bytes: Buffer, isCommand: boolean) => {
    // do/while: an empty data set still needs one PDV carrying the last-fragment bit.
    let pos = 0;
    do {
      const data = bytes.subarray(pos, pos + size);
      pos += size;
      out.push(encodePDataTf([{ contextId, command: isCommand, last: pos >= bytes.length, data }]));
    } while (pos < bytes.length);
  };
  split(command, true);
  if (dataSet) split(dataSet, false);
  return out;
}

export type DimseEvent =
  | { kind: 'command'; contextId: number; command: CommandSet; raw: Buffer }
  | { kind: 'data'; contextId: number; fragment: Buffer; last: boolean };

export interface AssemblerOptions {
  /** Largest command set accepted; command sets are a few hundred bytes in practice. */
  maxCommandLength?: number;
}

/**
 * Checks that PDVs arrive as PS3.7 §6.3.1 / PS3.8 Annex E require (command fragments, then data
 * set fragments if the command announced one, all on one presentation context) and yields whole
 * command sets plus data set fragments, which are streamed rather than buffered. After a throw the
 * association must be aborted.
 */
export class DimseMessageAssembler {
  readonly maxCommandLength: number;
  private state: 'idle' | 'command' | 'data' = 'idle';
  private contextId = 0;
  private commandParts: Buffer[] = [];
  private commandLength = 0;

  constructor(options: AssemblerOptions = {}) {
    this.maxCommandLength = options.maxCommandLength ?? 64 * 1024;
  }

  /** True between messages, i.e. when no fragment of a message is outstanding. */
  get idle(): boolean {
    return this.state === 'idle';
  }

  push(pdvs: readonly Pdv[]): DimseEvent[] {
    const events: DimseEvent[] = [];
    for (const pdv of pdvs) {
      if (this.state !== 'idle' && pdv.contextId !== this.contextId) {
        throw malformed(`PDV on presentation context ${pdv.contextId} interleaved with a message on context ${this.contextId}`);
      }
      if (pdv.command) {
        if (this.state === 'data') throw malformed('command fragment received while data set fragments were expected');
        if (this.state === 'idle') {
          this.state = 'command';
          this.contextId = pdv.contextId;
        }
        this.commandLength += pdv.data.length;
        if (this.commandLength > this.maxCommandLength) {
          throw malformed(`command set exceeds ${this.maxCommandLength} bytes`);
        }
        const held = heldFragment(pdv);
        if (held) this.commandParts.push(held);
        if (pdv.last) {
          const raw = Buffer.concat(this.commandParts, this.commandLength);
          this.commandParts = [];
          this.commandLength = 0;
          const command = decodeCommand(raw);
          events.push({ kind: 'command', contextId: this.contextId, command, raw });
          this.state = command.hasDataSet ? 'data' : 'idle';
        }
      } else {
        if (this.state === 'idle') throw malformed(`data set fragment on context ${pdv.contextId} without a preceding command`);
        if (this.state === 'command') throw malformed('data set fragment received before the last command fragment');
        events.push({ kind: 'data', contextId: pdv.contextId, fragment: pdv.data, last: pdv.last });
        if (pdv.last) this.state = 'idle';
      }
    }
    return events;
  }
}

function malformed(message: string): WardgateError {
  return new WardgateError('DIMSE_MALFORMED', message);
}
