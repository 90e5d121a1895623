import { describe, expect, it } from 'vitest';
import { ConfigError } from './config-error';
import { bool, int, listenAddress, oneOf, readConfig, str, url } from './read-config';

describe('readConfig', () => {
  const spec = {
    dataDir: str('KFRM_DATA_DIR', { default: '.data' }),
    databaseUrl: url('DATABASE_URL', ['postgres', 'postgresql'], { optional: true }),
    poolMax: int('DB_POOL_MAX', { default: 10, min: 1, max: 100 }),
    pretty: bool('LOG_PRETTY', { default: false }),
    level: oneOf('LOG_LEVEL', ['debug', 'info', 'warn'], { default: 'info' }),
    mobile: listenAddress('KFRM_MOBILE_LISTEN', { default: '127.0.0.1:50051' }),
  };

  it('applies defaults', () => {
    expect(readConfig(spec, {})).toEqual({
      dataDir: '.data',
      databaseUrl: undefined,
      poolMax: 10,
      pretty: false,
      level: 'info',
      mobile: { host: '127.0.0.1', port: 50051 },
    });
  });

  it('parses values', () => {
    const cfg = readConfig(spec, {
      DATABASE_URL: 'postgres://u@h:5432/db',
      DB_POOL_MAX: '20',
      LOG_PRETTY: 'yes',
      LOG_LEVEL: 'debug',
      KFRM_MOBILE_LISTEN: '0.0.0.0:0',
    });
    expect(cfg.databaseUrl).toBe('postgres://u@h:5432/db');
    expect(cfg.poolMax).toBe(20);
    expect(cfg.pretty).toBe(true);
    expect(cfg.mobile).toEqual({ host: '0.0.0.0', port: 0 });
  });

  it('names every bad variable at once', () => {
    try {
      readConfig(spec, { DATABASE_URL: 'redis://x', DB_POOL_MAX: 'many', LOG_LEVEL: 'loud', KFRM_MOBILE_LISTEN: 'nope' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      expect(problems).toContain('DATABASE_URL must use postgres or postgresql://');
      expect(problems).toContain('DB_POOL_MAX must be an integer');
      expect(problems).toContain('LOG_LEVEL must be one of');
      expect(problems).toContain('KFRM_MOBILE_LISTEN must be host:port');
    }
  });

  it('requires variables without a default', () => {
    expect(() => readConfig({ key: str('SECRET_KEY_FILE') }, {})).toThrow('SECRET_KEY_FILE is required');
  });
});
