import * as grpc from '@grpc/grpc-js';
import { DeviceServiceClient } from '@kfrm/proto/gen/kfrm/api/device/device';
import { E2eTestServiceClient } from '@kfrm/proto/gen/kfrm/api/e2e/e2e_test';
import { KeyServiceClient, type GetKeyResponse } from '@kfrm/proto/gen/kfrm/api/key/key';
import { AppVersionServiceClient } from '@kfrm/proto/gen/kfrm/api/appversion/app_version';
import { TabMenuServiceClient } from '@kfrm/proto/gen/kfrm/api/tabmenu/tab_menu';
import { AccountServiceClient } from '@kfrm/proto/gen/kfrm/api/account/account';
import type { EncryptedMessage_ProviderType, EncryptedMessage } from '@kfrm/proto/gen/kfrm/api/common/common';
import { CommonApiError, CommonApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/common/error';
import { apiErrorCode } from '@kfrm/server-kit';
import { decryptFromServer, encryptForSession, providerFromType, type AppEncryption } from '@kfrm/e2e-crypto';
import { generateDeviceKeyPair, spkiBase64, toDeviceIdentity, type DeviceIdentity, type DeviceKeyKind } from './device-identity';
import { unary } from './unary';

export interface AppClientOptions {
  /** host:port of the mobile listener. */
  address: string;
  /** PEM of the CA that signed the server certificate (the app pins it). */
  serverCaPem: string | Buffer;
}

type ClientConstructor<C> = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ClientOptions) => C;

/**
 * Does what the phone does, over the real mobile listener: makes a device key, gets a device
 * certificate, reconnects with it, fetches E2E keys and encrypts secrets for the server. Used by
 * tests, benchmarks and the demo.
 */
export class AppClient {
  private credentials: grpc.ChannelCredentials;
  private readonly clients = new Map<unknown, grpc.Client>();
  private readonly e2eKeys = new Map<EncryptedMessage_ProviderType, GetKeyResponse>();
  private readonly lastEncryption = new Map<EncryptedMessage_ProviderType, AppEncryption>();
  device: DeviceIdentity | undefined;

  constructor(private readonly options: AppClientOptions) {
    this.credentials = grpc.credentials.createSsl(Buffer.from(options.serverCaPem));
  }

  /** A generated client on the current connection (with the device certificate once there is one). */
  client<C extends grpc.Client>(ctor: ClientConstructor<C>): C {
    let client = this.clients.get(ctor) as C | undefined;
    if (!client) {
      client = new ctor(this.options.address, this.credentials);
      this.clients.set(ctor, client);
    }
    return client;
  }

  get deviceService() {
    return this.client(DeviceServiceClient);
  }
  get keyService() {
    return this.client(KeyServiceClient);
  }
  get e2eTestService() {
    return this.client(E2eTestServiceClient);
  }
  get appVersionService() {
    return this.client(AppVersionServiceClient);
  }
  get tabMenuService() {
    return this.client(TabMenuServiceClient);
  }
  get accountService() {
    return this.client(AccountServiceClient);
  }

  /** CreateDevice with a fresh key, then reconnect presenting the issued certificate. */
  async registerDevice(kind: DeviceKeyKind = 'ec-p256'): Promise<DeviceIdentity> {
    const keyPair = await generateDeviceKeyPair(kind);
    const response = await unary(this.deviceService, this.deviceService.createDevice, { publicKey: await spkiBase64(keyPair) });
    const identity = await toDeviceIdentity(keyPair, response.deviceId, response.certificate);
    this.useDevice(identity);
    return identity;
  }

  /** Switch to a device identity (e.g. one made elsewhere, or a forged one in a test). */
  useDevice(identity: DeviceIdentity): void {
    this.device = identity;
    this.credentials = grpc.credentials.createSsl(
      Buffer.from(this.options.serverCaPem),
      Buffer.from(identity.privateKeyPem),
      Buffer.from(identity.certificatePem),
    );
    this.closeClients();
  }

  /** ListKeys: one fresh key session per provider. */
  async fetchKeys(): Promise<Map<EncryptedMessage_ProviderType, GetKeyResponse>> {
    const { keys } = await unary(this.keyService, this.keyService.listKeys, {});
    this.e2eKeys.clear();
    for (const key of keys) this.e2eKeys.set(key.provider, key);
    return this.e2eKeys;
  }

  /**
   * Encrypts a secret (PIN, pattern, biometric key) for the server under the provider's session.
   * The app keeps the ephemeral key of its last message per provider: the server answers
   * EncryptText to it (docs/e2e.md).
   */
  async encrypt(provider: EncryptedMessage_ProviderType, plaintext: string): Promise<EncryptedMessage> {
    const name = providerFromType(provider);
    if (!name) throw new Error(`not an E2E provider: ${provider}`);
    let key = this.e2eKeys.get(provider);
    if (!key) {
      await this.fetchKeys();
      key = this.e2eKeys.get(provider);
    }
    if (!key) throw new Error(`no E2E key for provider ${name}`);
    const encryption: AppEncryption = await encryptForSession(key.publicKey, key.sessionId, name, plaintext);
    this.lastEncryption.set(provider, encryption);
    return encryption.encryptedMessage;
  }

  /**
   * Encrypts `plaintext` for the provider and makes `call` with it. E2E key sessions live in the
   * server's store and can vanish before their expiry (a store restart or failover): on
   * E2E_KEY_SESSION_EXPIRED the app makes a new key exchange once and calls again with the secret
   * encrypted anew, so the customer never sees it. Safe to repeat: the server refuses such a
   * message before it reads the secret or counts an attempt.
   */
  async withEncrypted<T>(
    provider: EncryptedMessage_ProviderType,
    plaintext: string,
    call: (message: EncryptedMessage) => Promise<T>,
  ): Promise<T> {
    try {
      return await call(await this.encrypt(provider, plaintext));
    } catch (err) {
      if (!isKeySessionExpired(err)) throw err;
      await this.fetchKeys();
      return call(await this.encrypt(provider, plaintext));
    }
  }

  /** Decrypts what the server encrypted for this app (EncryptText) with the last ephemeral key. */
  async decryptFromServer(provider: EncryptedMessage_ProviderType, compactJwe: string): Promise<string> {
    const name = providerFromType(provider);
    const last = this.lastEncryption.get(provider);
    const key = this.e2eKeys.get(provider);
    if (!name || !last || !key) throw new Error('nothing encrypted for this provider yet');
    return new TextDecoder().decode(
      await decryptFromServer(compactJwe, last.ephemeralPrivateKey, { sessionId: key.sessionId, provider: name }),
    );
  }

  private closeClients(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  close(): void {
    this.closeClients();
  }
}

/** The server no longer has the E2E key session the message was encrypted for. */
function isKeySessionExpired(err: unknown): boolean {
  return apiErrorCode(err, CommonApiError) === CommonApiError_ErrorCode.E2E_KEY_SESSION_EXPIRED;
}
