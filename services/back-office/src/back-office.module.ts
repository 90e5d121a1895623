import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, int, oneOf, readConfig, str, url, type Env, type ListenAddress } from '@kfrm/config';
import { createOperatorVerifier, type ServiceModule } from '@kfrm/runtime';
import { createConsoleCalls } from './console.calls';
import { createConsoleServer, type ConsoleServerOptions } from './console.server';
import { createSessionStore } from './console.sessions';
import { createOidcClient } from './oidc';

export interface BackOfficeModuleOptions {
  /** Where the settings are read (process.env by default). */
  env?: Env;
  /** Told the console's bound address once it listens (tests, the e2e run). */
  onListening?(address: ListenAddress): void;
  /** Replaces fetch for the identity provider (tests). */
  fetch?: typeof fetch;
}

function readBackOfficeConfig(env: Env | undefined) {
  return readConfig(
    {
      // The origin operators' browsers use (behind an ingress, its https URL); default the listener's.
      publicUrl: url('KFRM_BACK_OFFICE_PUBLIC_URL', ['http', 'https'], { optional: true }),
      // OIDC sign-in (Keycloak's realm): the issuer, this console's client, and where to read the
      // discovery document when the console reaches the provider by another name than browsers.
      oidcIssuer: str('KFRM_BACK_OFFICE_OIDC_ISSUER', { optional: true }),
      oidcClientId: str('KFRM_BACK_OFFICE_OIDC_CLIENT_ID', { default: 'kfrm-back-office' }),
      oidcDiscoveryUrl: url('KFRM_BACK_OFFICE_OIDC_DISCOVERY_URL', ['http', 'https'], { optional: true }),
      // The paste-a-token form: auto = only in the embedded default and without an identity provider.
      tokenSignIn: oneOf('KFRM_BACK_OFFICE_TOKEN_SIGN_IN', ['auto', 'true', 'false'], { default: 'auto' }),
      sessionIdleSeconds: int('KFRM_BACK_OFFICE_SESSION_IDLE_SECONDS', { default: 15 * 60, min: 60, max: 8 * 60 * 60 }),
    },
    env,
  );
}

/**
 * The back-office web console (issue 16 item 4, docs/back-office.md): server-rendered pages on
 * their own HTTP listener, signed in with an operator token (the identity provider's, or the
 * local issuer's on the embedded default), calling the existing internal methods with it. It
 * serves no gRPC method and owns no table.
 */
export function createBackOfficeModule(options: BackOfficeModuleOptions = {}): ServiceModule {
  return {
    name: 'back-office',
    // Nothing on the mobile listener (the edge routes no phone call here).
    mobilePackages: [],
    async create({ internalClients, logger, config: runtime }) {
      const config = readBackOfficeConfig(options.env);
      // KFRM_BACK_OFFICE_LISTEN (runtime config): `off` runs no console in this process.
      const listen = runtime.backOfficeListen;
      if (!listen) return {};
      const tokenSignIn = config.tokenSignIn === 'auto' ? runtime.mode === 'embedded' && !config.oidcIssuer : config.tokenSignIn === 'true';
      const verifyOperator = await createOperatorVerifier(runtime);
      let server: Server | undefined;
      return {
        async start() {
          if (config.oidcIssuer && !verifyOperator) {
            throw new ConfigError(['KFRM_BACK_OFFICE_OIDC_ISSUER needs the operator verifier (KFRM_OPERATOR_JWKS_URL, ISSUER, AUDIENCE)']);
          }
          // Origin and OIDC client are set once the port is bound (port 0 in tests); the server
          // reads them per request and answers none before.
          const settings: ConsoleServerOptions = {
            calls: createConsoleCalls(internalClients),
            sessions: createSessionStore({ idleMs: config.sessionIdleSeconds * 1000 }),
            logger,
            verifyOperator,
            oidc: undefined,
            tokenSignIn,
            publicOrigin: '',
            approvalThresholdKrw: runtime.operatorApprovalThresholdKrw,
          };
          const bound = createConsoleServer(settings);
          const listening = await new Promise<boolean>((resolve, reject) => {
            bound.once('error', (err: NodeJS.ErrnoException) => {
              // The embedded default runs beside other local runs (tests, a second checkout): a
              // taken port leaves that process without a console, as with the metrics endpoint.
              // A deployment's back-office process has nothing else to do: it fails to start.
              if (err.code === 'EADDRINUSE' && runtime.mode === 'embedded') resolve(false);
              else reject(err);
            });
            bound.listen(listen.port, listen.host, () => {
              const port = (bound.address() as AddressInfo).port;
              const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
              settings.publicOrigin = config.publicUrl ? new URL(config.publicUrl).origin : `http://${host}:${port}`;
              if (config.oidcIssuer) {
                settings.oidc = createOidcClient({
                  issuer: config.oidcIssuer,
                  discoveryUrl: config.oidcDiscoveryUrl,
                  clientId: config.oidcClientId,
                  redirectUri: `${settings.publicOrigin}/oidc/callback`,
                  fetch: options.fetch,
                });
              }
              resolve(true);
            });
          });
          if (!listening) {
            logger.warn({ address: `${listen.host}:${listen.port}` }, 'back-office console not started: address in use');
            return;
          }
          server = bound;
          const port = (bound.address() as AddressInfo).port;
          logger.info(
            { address: `${listen.host}:${port}`, origin: settings.publicOrigin, oidc: settings.oidc !== undefined, tokenSignIn },
            'back-office console listening',
          );
          options.onListening?.({ host: listen.host, port });
        },
        async close() {
          await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
          server?.closeAllConnections();
        },
      };
    },
  };
}

export const backOfficeModule: ServiceModule = createBackOfficeModule();
