export * from './tls-profile.ts';
export * from './route-config.ts';
export * from './credentials.ts';
export * from './policy.ts';
export * from './metrics.ts';
export * from './route.ts';
export * from './gateway.ts';
