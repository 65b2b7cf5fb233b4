/**
 * Bench backend: a plaintext DICOM acceptor that answers A-ASSOCIATE-RQ (accepting every context),
 * C-ECHO-RQ with C-ECHO-RSP (PS3.7 §9.3.5) and A-RELEASE-RQ with RP. Run as its own process so the
 * proxies under test and the load driver do not share its event loop.
 * Usage: node --import tsx bench/proxy/echo-scp.ts PORT  (prints "ready" when listening)
 */
import net from 'node:net';
import {
  COMMAND_FIELD, DimseMessageAssembler, PduReader, decodePdu, encodeAssociateAc, encodeCEchoRsp, encodeReleaseRp, fragmentMessage,
} from '../../src/protocols/dicom/index.ts';

const port = Number(process.argv[2]);
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  const reader = new PduReader();
  const assembler = new DimseMessageAssembler();
  socket.on('data', (chunk: Buffer) => {
    try {
      for (const raw of reader.push(chunk)) {
        const pdu = decodePdu(raw);
        if (pdu.kind === 'A-ASSOCIATE-RQ') {
          socket.write(encodeAssociateAc({
            calledAeTitle: pdu.value.calledAeTitle, callingAeTitle: pdu.value.callingAeTitle,
            presentationContexts: pdu.value.presentationContexts.map((pc) => ({ id: pc.id, result: 0, transferSyntax: pc.transferSyntaxes[0] })),
            userInformation: { maxLength: 16384, implementationClassUid: '1.2.826.0.1.3680043.10.1234.8' },
          }));
        } else if (pdu.kind === 'P-DATA-TF') {
          for (const ev of assembler.push(pdu.value)) {
            if (ev.kind === 'command' && ev.command.commandField === COMMAND_FIELD.CEchoRq) {
              for (const out of fragmentMessage(ev.contextId, encodeCEchoRsp({ messageIdBeingRespondedTo: ev.command.messageId ?? 0 }), undefined, 16384)) socket.write(out);
            }
          }
        } else if (pdu.kind === 'A-RELEASE-RQ') {
          socket.end(encodeReleaseRp());
        }
      }
    } catch {
      socket.destroy();
    }
  });
});
server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => process.stdout.write('ready\n'));
