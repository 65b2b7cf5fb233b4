/**
 * Liveness probe (every 250 ms while a campaign runs, and after each replay): a well-formed
 * A-ASSOCIATE-RQ (PS3.8 §9.3.2) or HL7 message must get an answer within T. A process whose event
 * loop is blocked still completes TCP handshakes in the kernel, so only an application-level answer
 * proves it is alive.
 */
import { SOP_CLASS, TRANSFER_SYNTAX, encodeAbort, encodeAssociateRq } from '../protocols/dicom/index.ts';
import { encodeFrame } from '../protocols/hl7/index.ts';
import type { Protocol } from './exchange.ts';
import { type Endpoint, connect } from './executor.ts';

export type Health = 'ok' | 'refused' | 'no-answer' | 'error';

export function probeMessage(protocol: Protocol, identity: { callingAeTitle: string; calledAeTitle: string; sendingApplication: string; sendingFacility: string; messageType: string }): Buffer {
  if (protocol === 'dicom') {
    return encodeAssociateRq({
      calledAeTitle: identity.calledAeTitle,
      callingAeTitle: identity.callingAeTitle,
      presentationContexts: [{ id: 1, abstractSyntax: SOP_CLASS.Verification, transferSyntaxes: [TRANSFER_SYNTAX.ImplicitVrLittleEndian] }],
      userInformation: { maxLength: 16384, implementationClassUid: '1.2.826.0.1.3680043.10.1234.77.2' },
    });
  }
  const type = identity.messageType.includes('^') ? identity.messageType : `${identity.messageType}^A01`;
  return encodeFrame(`MSH|^~\\&|${identity.sendingApplication}|${identity.sendingFacility}|RECEIVER|RECFAC|20260101120000||${type}|PROBE${Date.now()}|P|2.5\rPID|1||42\r`);
}

export function probe(protocol: Protocol, endpoint: Endpoint, message: Buffer, timeoutMs: number): Promise<Health> {
  return new Promise((resolve) => {
    const socket = connect(endpoint);
    let settled = false;
    const done = (h: Health) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (protocol === 'dicom' && h === 'ok' && !socket.destroyed) socket.end(encodeAbort({ source: 0, reason: 0 }));
      else socket.end();
      setTimeout(() => socket.destroy(), 100).unref();
      resolve(h);
    };
    const timer = setTimeout(() => done('no-answer'), timeoutMs);
    socket.once(endpoint.tls ? 'secureConnect' : 'connect', () => socket.write(message));
    let got = 0;
    // Any byte is an answer: the kernel writes none by itself, so the application took the connection
    // and wrote to it. Its form is not judged here (a junk answer is not a hang), and nothing is kept.
    socket.on('data', (d: Buffer) => {
      got += d.length;
      done('ok');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? 'refused' : 'error'));
    socket.on('close', () => done(got > 0 ? 'ok' : 'error'));
  });
}
