export * from './codes.ts';
export * from './message.ts';
export * from './events.ts';
export * from './rfc5424.ts';
export * from './fit.ts';
export * from './sinks.ts';
export * from './auditor.ts';
