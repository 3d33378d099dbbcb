// What `npm run bench` uses of the store (package export @phigate/audit/store).
export { PgAuditStore } from './pg-store.js';
export { appendUnchained } from './unchained.js';
