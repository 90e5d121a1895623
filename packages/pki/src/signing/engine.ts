import * as pkijs from 'pkijs';
import { webcrypto } from '../crypto-provider';

type EngineCrypto = ConstructorParameters<typeof pkijs.CryptoEngine>[0]['crypto'];

/**
 * pkijs's engine over Node's WebCrypto, passed explicitly to every pkijs call so nothing depends
 * on the library's process-wide default engine (which another import could replace).
 */
export const pkiEngine = new pkijs.CryptoEngine({ name: 'kfrm-node-webcrypto', crypto: webcrypto as unknown as EngineCrypto });
