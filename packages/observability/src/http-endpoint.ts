import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KfrmMetrics } from './metrics';

export interface MetricsEndpoint {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * `GET /metrics` (Prometheus text format) and `GET /healthz` on a plain HTTP port of its own,
 * so scraping never shares a port or TLS setup with the gRPC listeners.
 */
export async function startMetricsEndpoint(options: { metrics: KfrmMetrics; host: string; port: number }): Promise<MetricsEndpoint> {
  const { metrics } = options;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('ok\n');
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    metrics.text().then(
      (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(req.method === 'HEAD' ? undefined : body),
      () => res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics collection failed\n'),
    );
  });
  // A scrape is a short request; keep-alive sockets must not hold shutdown open.
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
