export { distributionRoutes, buildDistributionServer } from './routes.ts';
export { DISTRIBUTION_DEFAULTS, type DistributionOptions } from './options.ts';
export { trustBundle } from './est-cacerts.ts';
export { OCSP_MAX_REQUEST } from './ocsp.ts';
