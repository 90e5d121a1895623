import { DomainError, PermissionDeniedError } from '@kfrm/errors';
import type { KeySession, KeySessions } from '@kfrm/e2e-crypto';
import { providerType } from '@kfrm/e2e-crypto';
import { E2eTestServiceService } from '@kfrm/proto/gen/kfrm/api/e2e/e2e_test';
import { GetKeyApiError, GetKeyApiError_ErrorCode, KeyServiceService, type GetKeyResponse } from '@kfrm/proto/gen/kfrm/api/key/key';
import { apiErrorType, defineService, raises, type CallContext } from '@kfrm/server-kit';
import type { Store } from '@kfrm/store';
import {
  decryptText,
  encryptText,
  issueAllKeys,
  issueKey,
  limitKeyRequests,
  type DecryptTextCode,
  type EncryptTextCode,
  type IssueKeyCode,
  type KeyRequestLimit,
} from './e2e-key';

function toGetKeyResponse(session: KeySession): GetKeyResponse {
  return { provider: providerType(session.provider), sessionId: session.sessionId, publicKey: session.publicKeySpkiBase64 };
}

/**
 * The client only ever sees one message for a refused message; the log keeps the reason (a
 * fixed phrase such as "header kid is not the session id", never key material or plaintext)
 * so operators can tell a broken app build from an attack.
 */
async function withRefusalReason<T>(ctx: CallContext, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof DomainError && err.code === 'E2E_DECRYPTION_FAILED') {
      ctx.logger.info({ e2e_refusal: err.cause instanceof Error ? err.cause.message : undefined }, 'encrypted message refused');
    }
    throw err;
  }
}

/** KeyService: public, because the app fetches keys before it has a device certificate. */
export function keyServiceHandlers(sessions: KeySessions, limits: { store: Store; keyRequests: KeyRequestLimit }) {
  return defineService(
    KeyServiceService,
    {
      async getKey(request, ctx) {
        await limitKeyRequests(limits.store, limits.keyRequests, { address: ctx.clientAddress });
        return toGetKeyResponse(await issueKey(sessions, request.provider));
      },
      async listKeys(_request, ctx) {
        await limitKeyRequests(limits.store, limits.keyRequests, { address: ctx.clientAddress });
        return { keys: (await issueAllKeys(sessions)).map(toGetKeyResponse) };
      },
    },
    {
      getKey: {
        access: 'public',
        idempotent: true,
        errors: apiErrorType(GetKeyApiError, GetKeyApiError_ErrorCode),
        raises: raises<IssueKeyCode>(),
      },
      listKeys: { access: 'public', raises: raises() },
    },
  );
}

/**
 * E2eTestService: lets an app team check its implementation against the server. DecryptText
 * turns a captured ciphertext of a live session into plaintext, so it is never public, and a
 * production server does not offer it at all (`enabled` false, KFRM_E2E_TEST_SERVICE): a
 * message taken on its way to the server (a PIN) would otherwise be one call from its plaintext.
 */
export function e2eTestHandlers(sessions: KeySessions, options: { enabled: boolean } = { enabled: true }) {
  const available = () => {
    if (!options.enabled) throw new PermissionDeniedError('the E2E test service is disabled on this server (KFRM_E2E_TEST_SERVICE)');
  };
  return defineService(
    E2eTestServiceService,
    {
      async encryptText(request) {
        available();
        return { encryptedText: await encryptText(sessions, request) };
      },
      async decryptText(request, ctx) {
        available();
        return { plainText: await withRefusalReason(ctx, () => decryptText(sessions, request.encryptedMessage)) };
      },
    },
    {
      encryptText: { access: 'device', raises: raises<EncryptTextCode>() },
      decryptText: { access: 'device', raises: raises<DecryptTextCode>() },
    },
  );
}
