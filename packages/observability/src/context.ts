import { AsyncLocalStorage } from 'node:async_hooks';
import { ROOT_CONTEXT, context as contextApi, createContextKey, type Context, type ContextManager } from '@opentelemetry/api';

/**
 * OpenTelemetry context carried by AsyncLocalStorage. One carrier per process is enough: it holds
 * no state of its own, only whatever context a call put in it (each process keeps its own
 * tracer provider and registry). Registered as the global context manager once, so
 * `trace.getActiveSpan()` works in service code too.
 */
class AsyncLocalStorageContextManager implements ContextManager {
  private readonly storage = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.storage.run(ctx, () => fn.call(thisArg, ...args));
  }
  bind<T>(ctx: Context, target: T): T {
    if (typeof target !== 'function') return target;
    const run = (...args: unknown[]) => this.with(ctx, () => (target as (...a: unknown[]) => unknown)(...args));
    return run as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.storage.disable();
    return this;
  }
}

const manager = new AsyncLocalStorageContextManager();
let registered = false;

function ensureRegistered(): void {
  if (registered) return;
  registered = true;
  // Fails (returns false) only when another manager is already global; ours still works below.
  contextApi.setGlobalContextManager(manager);
}

export function activeContext(): Context {
  ensureRegistered();
  return manager.active();
}

export function withContext<T>(ctx: Context, fn: () => T): T {
  ensureRegistered();
  return manager.with(ctx, fn);
}

/** The request id of the call being served, so internal calls forward it as x-request-id. */
export const REQUEST_ID_KEY = createContextKey('kfrm.request_id');

/**
 * A context holding the request id alone: what a server stream's work carries once its span has
 * ended (grpc-server.ts, streamOpened). OpenTelemetry's own context makes a Map and three closures
 * per context (≈ 0.45 KB), which an open stream would keep for hours; this is one small object with
 * its methods on the prototype. Adding to it (a child span, another value) gives an ordinary context.
 */
export class RequestIdContext implements Context {
  constructor(private readonly requestId: unknown) {}

  getValue(key: symbol): unknown {
    return key === REQUEST_ID_KEY ? this.requestId : undefined;
  }

  setValue(key: symbol, value: unknown): Context {
    return ROOT_CONTEXT.setValue(REQUEST_ID_KEY, this.requestId).setValue(key, value);
  }

  deleteValue(key: symbol): Context {
    return key === REQUEST_ID_KEY ? ROOT_CONTEXT : this;
  }
}

export function activeRequestId(): string | undefined {
  const value = activeContext().getValue(REQUEST_ID_KEY);
  return typeof value === 'string' ? value : undefined;
}
