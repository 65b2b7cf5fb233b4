/**
 * DICOM policy bypasses found in review: a C-MOVE-RQ whose move destination has no reverse route
 * (`moveDestinations`) must never reach the SCP, whatever way the command set travels. A recording
 * SCP behind an inbound route keeps every command set it receives; the assertions read those
 * leniently, the way dcmtk (storescp, Orthanc's DIMSE layer) does: element order and
 * CommandGroupLength are not enforced there (dcmdump reads both variants below as a C-MOVE-RQ).
 */
import net from 'node:net';
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import t from 'tap';
import {
  COMMAND_FIELD, DATA_SET_TYPE, PDU_TYPE, PduReader, decodePdu, encodeAssociateAc, encodeAssociateRq, encodeCommand, encodePDataTf, encodeReleaseRp,
  encodeReleaseRq, SOP_CLASS, TRANSFER_SYNTAX,
} from '../../src/protocols/dicom/index.ts';
import { withTimeout } from '../protocols/fixtures/helpers.ts';
import { freeLoopbackPort, startGateway } from './fixtures/peers.ts';
import { proxyPki } from './fixtures/pki.ts';
import { implicitElement } from './fixtures/dicom-element.ts';

const GW = '127.30.13.1';
const MOVE_STUDY_ROOT = '1.2.840.10008.5.1.4.1.2.2.2';

/** Group 0000 elements read the lenient way: any order, group length ignored, later duplicates win. */
function lenientElements(cmd: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (let pos = 0; pos + 8 <= cmd.length;) {
    const element = cmd.readUInt16LE(pos + 2);
    const length = cmd.readUInt32LE(pos + 4);
    out.set(element, cmd.subarray(pos + 8, pos + 8 + length));
    pos += 8 + length;
  }
  return out;
}

/** Move destinations of the C-MOVE-RQs among the command sets, as dcmtk would read them. */
function moveDestinations(commands: Buffer[]): string[] {
  return commands.map(lenientElements).filter((e) => e.get(0x0100)?.readUInt16LE(0) === COMMAND_FIELD.CMoveRq)
    .map((e) => (e.get(0x0600) ?? Buffer.alloc(0)).toString('latin1').trim());
}

/** Plaintext SCP: accepts every context, records the command sets (fragments joined), answers release, notes closes. */
async function recordingScp(t: { teardown: (fn: () => unknown) => void }) {
  const commands: Buffer[] = [];
  const closes: Array<Promise<void>> = [];
  const open = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    open.add(socket);
    closes.push(new Promise((r) => socket.once('close', () => r())));
    socket.once('close', () => open.delete(socket));
    socket.on('error', () => undefined);
    const reader = new PduReader();
    let parts: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const raw of reader.push(chunk)) {
          const pdu = decodePdu(raw);
          if (pdu.kind === 'A-ASSOCIATE-RQ') {
            socket.write(encodeAssociateAc({
              calledAeTitle: pdu.value.calledAeTitle, callingAeTitle: pdu.value.callingAeTitle,
              presentationContexts: pdu.value.presentationContexts.map((pc) => ({ id: pc.id, result: 0, transferSyntax: pc.transferSyntaxes[0] })),
              userInformation: { maxLength: 16384, implementationClassUid: '1.2.826.0.1.3680043.10.1234.5' },
            }));
          } else if (pdu.kind === 'P-DATA-TF') {
            for (const pdv of pdu.value) {
              if (!pdv.command) continue;
              parts.push(Buffer.from(pdv.data));
              if (pdv.last) {
                commands.push(Buffer.concat(parts));
                parts = [];
              }
            }
          } else if (pdu.kind === 'A-RELEASE-RQ') {
            socket.end(encodeReleaseRp());
          } else if (pdu.kind === 'A-ABORT') {
            socket.destroy();
          }
        }
      } catch {
        socket.destroy();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => { server.close(() => resolve()); for (const s of open) s.destroy(); }));
  return { port: (server.address() as net.AddressInfo).port, commands, closes };
}

type Creds = { ca: Buffer; cert: Buffer; key: Buffer };
type Tap = { teardown: (fn: () => unknown) => void };

/**
 * One association through the gateway at GW:`port` proposing `abstractSyntax`: RQ, wait for the AC,
 * send `pdus` and an A-RELEASE-RQ, wait until the SCP's side is closed. Returns the PDU types received.
 */
async function associateThrough(t: Tap, to: { port: number; creds: Creds; scp: Awaited<ReturnType<typeof recordingScp>> }, abstractSyntax: string, pdus: Buffer[]): Promise<number[]> {
  const { port, creds, scp } = to;
  const before = scp.closes.length;
  const socket = tls.connect({ host: GW, port, ...creds, checkServerIdentity: () => undefined });
  socket.on('error', () => undefined);
  t.teardown(() => socket.destroy());
  const reader = new PduReader();
  const types: number[] = [];
  const ac = new Promise<void>((resolve, reject) => {
    socket.on('data', (chunk: Buffer) => {
      for (const raw of reader.push(chunk)) {
        types.push(raw.type);
        if (raw.type === PDU_TYPE.AssociateAc) resolve();
        else if (types.length === 1) reject(new Error(`answer to the RQ is PDU type ${raw.type}`));
      }
    });
  });
  await new Promise((r) => socket.once('secureConnect', r));
  socket.write(encodeAssociateRq({
    calledAeTitle: 'PACS', callingAeTitle: 'MOD1',
    presentationContexts: [{ id: 1, abstractSyntax, transferSyntaxes: [TRANSFER_SYNTAX.ImplicitVrLittleEndian] }],
    userInformation: { maxLength: 16384, implementationClassUid: '1.2.826.0.1.3680043.10.1234.6' },
  }));
  await withTimeout(ac, 10_000, 'A-ASSOCIATE-AC');
  socket.write(Buffer.concat([...pdus, encodeReleaseRq()]));
  await withTimeout(new Promise<void>((r) => { const wait = () => (scp.closes.length > before ? r() : setTimeout(wait, 20)); wait(); }), 10_000, 'SCP connection');
  await withTimeout(scp.closes[before], 10_000, 'SCP side closed');
  socket.destroy();
  return types;
}

function cMoveRq(messageId: number, destination: string): Buffer {
  return encodeCommand({ commandField: COMMAND_FIELD.CMoveRq, messageId, affectedSopClassUid: MOVE_STUDY_ROOT, priority: 0, moveDestination: destination, dataSetType: DATA_SET_TYPE.Present });
}

const us = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };
const IDENTIFIER = Buffer.concat([implicitElement(0x0008, 0x0052, Buffer.from('STUDY ')), implicitElement(0x0020, 0x000d, Buffer.from('1.2.826.0.1.3680043.10.1234.77\0'))]);

/** A C-MOVE-RQ to `destination` as dcmtk reads it, but with its elements out of ascending order (PS3.5 §7.1). */
function cMoveOutOfOrder(destination: string): Buffer {
  const body = Buffer.concat([
    implicitElement(0, 0x0002, Buffer.from(`${MOVE_STUDY_ROOT}\0`)), implicitElement(0, 0x0100, us(COMMAND_FIELD.CMoveRq)), implicitElement(0, 0x0110, us(9)),
    implicitElement(0, 0x0700, us(0)), implicitElement(0, 0x0600, Buffer.from(destination.padEnd(16, ' '))), implicitElement(0, 0x0800, us(DATA_SET_TYPE.Present)),
  ]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length);
  return Buffer.concat([implicitElement(0, 0, len), body]);
}

/** A well-ordered C-MOVE-RQ whose CommandGroupLength is wrong (dcmtk ignores it). */
function cMoveBadGroupLength(destination: string): Buffer {
  const cmd = Buffer.from(cMoveRq(11, destination));
  cmd.writeUInt32LE(cmd.readUInt32LE(8) + 10, 8);
  return cmd;
}

const command = (data: Buffer) => ({ contextId: 1, command: true, last: true, data });
const dataset = (data: Buffer) => ({ contextId: 1, command: false, last: true, data });

t.test('a C-MOVE-RQ to an unmapped destination never reaches the SCP, however it is framed or encoded', async (t) => {
  const pki = await proxyPki(t);
  const gwCert = await pki.issue('gw', [GW]);
  const client = await pki.issue('mod', ['mod1.rad.klinikum.internal']);
  const scp = await recordingScp(t);
  const port = await freeLoopbackPort();
  await startGateway(t, {
    routes: [{
      name: 'qr-in', direction: 'inbound', protocol: 'dicom', listen: `${GW}:${port}`, upstream: `127.0.0.1:${scp.port}`,
      tls: { cert: [gwCert.cert], key: [gwCert.key], ca: pki.trust }, moveDestinations: { MOD1: 'qr-in' },
    }],
  });
  const creds = { ca: readFileSync(pki.trust), cert: readFileSync(client.cert), key: readFileSync(client.key) };

  const associate = (pdus: Buffer[]) => associateThrough(t, { port, creds, scp }, MOVE_STUDY_ROOT, pdus);

  /** C-MOVE destinations the SCP received other than the mapped MOD1. */
  const unmapped = () => moveDestinations(scp.commands).filter((d) => d !== 'MOD1');

  // Baseline: a mapped destination reaches the SCP; an unmapped one in a command PDU of its own is aborted.
  await associate([encodePDataTf([command(cMoveRq(1, 'MOD1'))]), encodePDataTf([dataset(IDENTIFIER)])]);
  t.same(moveDestinations(scp.commands), ['MOD1'], 'C-MOVE to the mapped destination MOD1 relayed');
  const aborted = await associate([encodePDataTf([command(cMoveRq(3, 'EVILAE'))]), encodePDataTf([dataset(IDENTIFIER)])]);
  t.ok(aborted.includes(PDU_TYPE.Abort), 'C-MOVE to EVILAE in its own PDU: the requestor gets an A-ABORT');
  t.same(moveDestinations(scp.commands), ['MOD1'], 'C-MOVE to EVILAE in its own PDU: refused');

  // Found in review: a P-DATA-TF whose first PDV is a data set fragment was streamed through after a
  // check of that first PDV only, so a command PDV behind it (here the next C-MOVE-RQ, packed after the
  // last fragment of the previous identifier) was never inspected: the C-MOVE to EVILAE reached the SCP,
  // which would open the sub-association in plaintext to a destination no reverse route covers.
  const packed = await associate([
    encodePDataTf([command(cMoveRq(5, 'MOD1'))]),
    encodePDataTf([dataset(IDENTIFIER), command(cMoveRq(7, 'EVILAE'))]),
    encodePDataTf([dataset(IDENTIFIER)]),
  ]);
  t.ok(packed.includes(PDU_TYPE.Abort), 'command PDV behind a data set PDV in one P-DATA-TF: the requestor gets an A-ABORT');
  t.same(unmapped(), [], 'command PDV behind a data set PDV in one P-DATA-TF: EVILAE never reaches the SCP');

  // Found in review: a command set the gateway's strict decoder refuses (elements out of order, wrong
  // CommandGroupLength) was forwarded unchecked ("the SCP judges DIMSE content"), but dcmtk reads both
  // as a C-MOVE-RQ, so the move destination check was bypassed by a one-byte encoding change.
  for (const [name, cmd] of [['out-of-order elements', cMoveOutOfOrder('EVILAE')], ['wrong CommandGroupLength', cMoveBadGroupLength('EVILAE')]] as const) {
    const types = await associate([encodePDataTf([command(cmd)]), encodePDataTf([dataset(IDENTIFIER)])]);
    t.ok(types.includes(PDU_TYPE.Abort), `${name}: the requestor gets an A-ABORT`);
    t.same(unmapped(), [], `${name}: the C-MOVE to EVILAE never reaches the SCP`);
  }
});

/** N-ACTION-RQ of the UPS Watch SOP Class (PS3.4 CC.2.3): 3 subscribes, 4 unsubscribes; Requested SOP Class is always UPS Push. */
function upsAction(messageId: number, actionTypeId: number): Buffer {
  return encodeCommand({
    commandField: COMMAND_FIELD.NActionRq, messageId, requestedSopClassUid: SOP_CLASS.UpsPush, requestedSopInstanceUid: UPS_GLOBAL_SUBSCRIPTION,
    actionTypeId, dataSetType: DATA_SET_TYPE.Present,
  });
}
const UPS_GLOBAL_SUBSCRIPTION = '1.2.840.10008.5.1.4.34.5';
/** Action information (PS3.4 Table CC.2.3-1): Receiving AE, Deletion Lock. */
const upsActionInformation = (receivingAe: string) => Buffer.concat([implicitElement(0x0074, 0x1230, Buffer.from('FALSE ')), implicitElement(0x0074, 0x1234, Buffer.from(receivingAe.padEnd(16, ' ')))]);
const actionTypes = (commands: Buffer[]) => commands.map(lenientElements).filter((e) => e.get(0x0100)?.readUInt16LE(0) === COMMAND_FIELD.NActionRq).map((e) => e.get(0x1008)?.readUInt16LE(0));

// Found in review: a UPS subscription makes the SCP open its N-EVENT-REPORT associations to the
// Receiving AE the subscriber names (PS3.4 CC.2.3.3: "may be different than the AE-TITLE used by the
// SCU"), a reverse association like C-MOVE's, but only C-MOVE and storage commitment were checked. The
// Receiving AE is in the data set, which the relay does not decode, so a route that restricts reverse
// associations refuses the subscription itself; one that does not restrict them relays it.
t.test('a UPS subscription on a route with moveDestinations never reaches the SCP; unsubscribing does, and so does subscribing on an unrestricted route', async (t) => {
  const pki = await proxyPki(t);
  const gwCert = await pki.issue('gw', [GW]);
  const client = await pki.issue('mod', ['mod1.rad.klinikum.internal']);
  const scp = await recordingScp(t);
  const restricted = await freeLoopbackPort();
  const open = await freeLoopbackPort();
  const tlsOptions = { cert: [gwCert.cert], key: [gwCert.key], ca: pki.trust };
  const gateway = await startGateway(t, {
    routes: [
      { name: 'ups-in', direction: 'inbound', protocol: 'dicom', listen: `${GW}:${restricted}`, upstream: `127.0.0.1:${scp.port}`, tls: tlsOptions, moveDestinations: { MOD1: 'ups-in' } },
      { name: 'ups-open', direction: 'inbound', protocol: 'dicom', listen: `${GW}:${open}`, upstream: `127.0.0.1:${scp.port}`, tls: tlsOptions },
    ],
  });
  const creds = { ca: readFileSync(pki.trust), cert: readFileSync(client.cert), key: readFileSync(client.key) };
  const subscribe = [encodePDataTf([command(upsAction(1, 3))]), encodePDataTf([dataset(upsActionInformation('EVILAE'))])];

  const refused = await associateThrough(t, { port: restricted, creds, scp }, SOP_CLASS.UpsWatch, subscribe);
  t.ok(refused.includes(PDU_TYPE.Abort), 'subscription on the restricted route: the requestor gets an A-ABORT');
  t.same(actionTypes(scp.commands), [], 'the SCP never received the subscription');
  t.equal(gateway.metrics.get('wardgate_denials_total', { route: 'ups-in', reason: 'move-destination' }), 1, 'refusal counted');

  const unsubscribed = await associateThrough(t, { port: restricted, creds, scp }, SOP_CLASS.UpsWatch, [encodePDataTf([command(upsAction(2, 4))]), encodePDataTf([dataset(upsActionInformation('MOD1'))])]);
  t.notOk(unsubscribed.includes(PDU_TYPE.Abort), 'unsubscribing on the restricted route is relayed');
  t.same(actionTypes(scp.commands), [4], 'the SCP received the unsubscription');

  const relayed = await associateThrough(t, { port: open, creds, scp }, SOP_CLASS.UpsWatch, subscribe);
  t.notOk(relayed.includes(PDU_TYPE.Abort), 'subscription on the route without moveDestinations is relayed');
  t.same(actionTypes(scp.commands), [4, 3], 'the SCP received it');
});
