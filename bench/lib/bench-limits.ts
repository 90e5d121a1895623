// Imported first by every benchmark that signs up many phones: they all call from 127.0.0.1, so
// the per-address limits on CreateDevice and GetKey (10 per 10 minutes, 60 per minute by default)
// would refuse the set-up. Raised here, before any module reads its configuration, and inherited
// by the backend processes the benchmarks start. An explicit setting still wins.
process.env.KFRM_DEVICE_CREATE_LIMIT ??= '1000000';
process.env.KFRM_E2E_GET_KEY_LIMIT ??= '1000000';
