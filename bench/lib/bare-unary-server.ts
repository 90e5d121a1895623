// The reference of bench/reads.ts, in its own process (IPC only): a bare grpc-js server answering
// AccountService.GetAccount with a fixed response through the generated codec, over the same TLS
// as the backend's mobile listener (its server certificate, client certificates from the device
// CA requested). No guard, no database, no logging: what a read costs with nothing of ours.
import * as grpc from '@grpc/grpc-js';
import { AccountServiceService, type GetAccountResponse } from '@kfrm/proto/gen/kfrm/api/account/account';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { credentialsLoaded, mobileServerCredentials } from '@kfrm/server-kit';
import type { MobileTlsFiles } from './backend-process';

export type ToBareServer = { type: 'cpu' } | { type: 'stop' };
export type FromBareServer = { type: 'ready'; port: number } | { type: 'cpu'; usage: NodeJS.CpuUsage };

const files = JSON.parse(process.env.BARE_SERVER_TLS!) as MobileTlsFiles;
const credentials = mobileServerCredentials({
  certFile: files.serverCertFile,
  keyFile: files.serverKeyFile,
  clientCaFile: files.deviceCaCertFile,
});
await credentialsLoaded(credentials);
const answer: GetAccountResponse = {
  accountNumber: '3330000000001',
  accountName: 'bench',
  balance: { currencyCode: CurrencyCode.KRW, majorAmount: 10_000n, minorAmount: 0n },
  // The extension fields GetAccount now answers with too, so the bare answer is as large.
  accountColor: '#000000',
  bookmarked: false,
};
const server = new grpc.Server();
server.addService(AccountServiceService, {
  getAccount: (_call: unknown, callback: grpc.sendUnaryData<GetAccountResponse>) => callback(null, answer),
});
const port = await new Promise<number>((resolve, reject) =>
  server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
);
const send = (m: FromBareServer) => process.send!(m);
process.on('message', (m: ToBareServer) => {
  if (m.type === 'cpu') send({ type: 'cpu', usage: process.cpuUsage() });
  else server.tryShutdown(() => process.disconnect());
});
process.on('disconnect', () => server.forceShutdown());
send({ type: 'ready', port });
