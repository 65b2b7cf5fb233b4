export * from './mllp.ts';
export * from './segments.ts';
export * from './msh.ts';
export * from './ack.ts';
export * from './charset.ts';
