import type { ClientEndpoint } from './ports.js';

/**
 * The client endpoint of a socket-like peer, as the audit events record it: IPv4 clients that
 * reached a dual-stack listener lose their `::ffff:` prefix, so one client has one address.
 */
export function peerOf(s: { remoteAddress?: string | undefined; remotePort?: number | undefined }): ClientEndpoint {
  const ip = s.remoteAddress ?? '';
  return { ip: ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip, port: s.remotePort ?? 0 };
}
