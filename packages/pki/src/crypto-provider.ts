// @peculiar/x509 resolves its crypto provider and ASN.1 schemas through tsyringe, which needs
// the Reflect metadata polyfill loaded first. Import this module before using x509.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509, webcrypto };
