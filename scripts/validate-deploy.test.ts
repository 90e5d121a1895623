import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { formatProblem, validateDeploy, type Problem } from './validate-deploy';

const repo = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** A copy of the deployment files (never dev secrets) to break on purpose. */
function copyDeployFiles(): string {
  const dir = mkdtempSync(join(tmpdir(), 'kfrm-deploy-'));
  cpSync(join(repo, 'Dockerfile'), join(dir, 'Dockerfile'));
  cpSync(join(repo, 'docker-compose.yml'), join(dir, 'docker-compose.yml'));
  cpSync(join(repo, 'deploy'), join(dir, 'deploy'), { recursive: true, dereference: true, filter: (src) => !src.includes('dev-secrets') });
  return dir;
}

/** Replaces the first occurrence; fails if the text is not there, so a test cannot pass by editing nothing. */
function edit(dir: string, file: string, from: string | RegExp, to: string): void {
  const path = join(dir, file);
  const before = readFileSync(path, 'utf8');
  const after = before.replace(from, to);
  expect(after, `${file}: ${String(from)} not found`).not.toBe(before);
  writeFileSync(path, after);
}

function find(problems: Problem[], file: string, path: string, message: RegExp): Problem | undefined {
  return problems.find((p) => p.file === file && p.path === path && message.test(p.message));
}

describe('validate-deploy', () => {
  const copies: string[] = [];
  afterAll(() => {
    for (const dir of copies) rmSync(dir, { recursive: true, force: true });
  });

  it('finds no problem in the repository deployment files', () => {
    const report = validateDeploy({ deployRoot: repo, sourceRoot: repo });
    expect(report.problems.map(formatProblem)).toEqual([]);
    // Compose file, Dockerfile and every manifest under deploy/ were read.
    expect(report.documents).toBeGreaterThan(30);
  });

  it('reports each deliberate break with its file, path and reason', () => {
    const dir = copyDeployFiles();
    copies.push(dir);
    // Kubernetes: a misspelt field (schema-valid, silently dropped by the API server), a wrong
    // type, a number YAML 1.1 reads as octal, a dangling Secret, a Service port naming no
    // container port, a manifest left out of the kustomization.
    edit(dir, 'deploy/services/auth.yaml', 'readinessProbe:', 'readinesProbe:');
    edit(dir, 'deploy/services/casa.yaml', 'periodSeconds: 2\n', 'periodSeconds: "2"\n');
    edit(dir, 'deploy/services/user.yaml', /defaultMode: 288.*/, 'defaultMode: 0440');
    edit(dir, 'deploy/services/auth.yaml', 'secretName: kfrm-e2e-kek', 'secretName: kfrm-e2e-keys');
    edit(dir, 'deploy/services/device.yaml', 'targetPort: grpc-internal', 'targetPort: grpc-intern');
    edit(dir, 'deploy/kustomization.yaml', '  - services/funding.yaml\n', '');
    // Compose: a misspelt health check option, a bad port mapping, a dependency on nothing.
    edit(dir, 'docker-compose.yml', '    interval: 30s', '    intervall: 30s');
    edit(dir, 'docker-compose.yml', '"127.0.0.1:50052:50052"', '"127.0.0.1:50052:grpc"');
    edit(dir, 'docker-compose.yml', /(\n {2}migrate:\n[\s\S]*?depends_on:\n\s+)postgres:/, '$1postgress:');
    // Dockerfile: an impossible port and an entry point that does not exist.
    edit(dir, 'Dockerfile', 'EXPOSE 50051 50052', 'EXPOSE 50051 internal');
    edit(dir, 'Dockerfile', 'CMD ["dist/backend.mjs"]', 'CMD ["dist/server.mjs"]');

    const { problems } = validateDeploy({ deployRoot: dir, sourceRoot: repo });
    const expected: [string, string, RegExp][] = [
      ['deploy/services/auth.yaml', '/spec/template/spec/containers/0/readinesProbe', /unknown field "readinesProbe"/],
      ['deploy/services/casa.yaml', '/spec/template/spec/containers/0/startupProbe/periodSeconds', /must be integer/],
      ['deploy/services/user.yaml', '/spec/template/spec/volumes/1/secret/defaultMode', /YAML 1\.1/],
      ['deploy/services/auth.yaml', '/spec/template/spec/volumes/3', /Secret "kfrm-e2e-keys" is not defined/],
      ['deploy/services/device.yaml', '/spec/ports/1/targetPort', /no container port named "grpc-intern"/],
      ['deploy/services/funding.yaml', '', /not listed in any kustomization/],
      ['docker-compose.yml', '/services/tab-menu/healthcheck', /additional properties \(intervall\)/],
      ['docker-compose.yml', '/services/edge/ports/1', /format "ports"/],
      ['docker-compose.yml', '/services/migrate/depends_on/postgress', /unknown service "postgress"/],
      ['Dockerfile', '', /Invalid containerPort: internal/],
      ['Dockerfile', '', /dist\/server\.mjs is not built from an entry point that exists/],
    ];
    for (const [file, path, message] of expected) {
      expect(find(problems, file, path, message), `${file} ${path} ${message}\n${problems.map(formatProblem).join('\n')}`).toBeDefined();
    }
    // Lines point into the file, for a reader to jump to.
    expect(find(problems, 'deploy/services/auth.yaml', '/spec/template/spec/containers/0/readinesProbe', /unknown/)?.line).toBeGreaterThan(
      1,
    );
  });

  it('requires every service to be deployed by both compose and Kubernetes', () => {
    const dir = copyDeployFiles();
    copies.push(dir);
    edit(dir, 'deploy/services/notification.yaml', 'args: ["dist/services/notification.mjs"]', 'args: ["dist/services/account.mjs"]');
    edit(dir, 'docker-compose.yml', 'command: ["dist/services/notification.mjs"]', 'command: ["dist/services/account.mjs"]');
    const messages = validateDeploy({ deployRoot: dir, sourceRoot: repo }).problems.map((p) => p.message);
    expect(messages).toContain('no workload runs services/notification/src/main.ts');
    expect(messages).toContain('no compose service runs services/notification/src/main.ts');
  });

  it('reports each way the split compose stack goes wrong: ports, pools, secrets, funding, edge routes', () => {
    const dir = copyDeployFiles();
    copies.push(dir);
    // A service publishing a host port (no --scale), DB_POOL_MAX unset, more containers than
    // max_connections allows, the device CA key and the server key in services that do not read
    // them, a secret the code needs not mounted, a variable naming a secret the service must not
    // hold, funding without credentials or sandboxes, the operator address on every interface.
    edit(dir, 'docker-compose.yml', /(\n {2}notification:\n {4}<<: \*service\n)/, '$1    ports:\n      - "127.0.0.1:50107:50061"\n');
    edit(dir, 'docker-compose.yml', /(x-kfrm-db-env: &kfrm-db-env\n.*\n) {2}DB_POOL_MAX: "5"\n/, '$1');
    edit(
      dir,
      'docker-compose.yml',
      '      - { source: kfrm_internal_account_key, target: internal.key }\n',
      '      - { source: kfrm_internal_account_key, target: internal.key }\n      - { source: kfrm_device_ca_key, target: device-ca.key }\n',
    );
    edit(
      dir,
      'docker-compose.yml',
      '      - { source: kfrm_internal_transfer_key, target: internal.key }\n',
      '      - { source: kfrm_internal_transfer_key, target: internal.key }\n      - { source: kfrm_server_key, target: server.key }\n',
    );
    edit(dir, 'docker-compose.yml', '      - { source: kfrm_user_data_key, target: user-data-key }\n', '');
    edit(
      dir,
      'docker-compose.yml',
      '      KFRM_CASA_PEPPER_FILE: /run/secrets/casa-pepper\n',
      '      KFRM_CASA_PEPPER_FILE: /run/secrets/casa-pepper\n      KFRM_E2E_KEK_FILE: /run/secrets/e2e-kek\n',
    );
    edit(dir, 'docker-compose.yml', '      KFRM_FUNDING_SANDBOXES: "true"\n', '');
    edit(dir, 'docker-compose.yml', '"127.0.0.1:50052:50052"', '"50052:50052"');
    edit(dir, 'docker-compose.yml', 'KFRM_EDGE_REFLECTION_SERVICES: kfrm.api.account.AccountService,', 'KFRM_EDGE_REFLECTION_SERVICES: ');
    edit(dir, 'deploy/services/tab-menu.yaml', 'value: kfrm.api.account.AccountService,', 'value: ');
    // The edge's nginx configuration (the generated, committed one): funding's package sent
    // to transfer, notification's not routed at all, one upstream on the internal port.
    const fixture = readFileSync(join(repo, 'deploy/compose/edge/nginx.conf'), 'utf8');
    const conf = fixture
      .replace('grpc_pass grpcs://edge_funding;', 'grpc_pass grpcs://edge_transfer;')
      .replace(/ {4}location \/kfrm\.api\.notification\.NotificationService\/ \{[^}]*\}\n/, '')
      .replace('server casa:50061 resolve;', 'server casa:50052 resolve;');
    expect(conf.split('\n').filter((line, n) => line !== fixture.split('\n')[n]).length).toBeGreaterThanOrEqual(3);
    mkdirSync(join(dir, 'deploy/compose/edge'), { recursive: true });
    writeFileSync(join(dir, 'deploy/compose/edge/nginx.conf'), conf);

    const { problems } = validateDeploy({ deployRoot: dir, sourceRoot: repo });
    const expected: [string, string, RegExp][] = [
      ['docker-compose.yml', '/services/notification/ports', /notification publishes host ports: only the edge does/],
      ['docker-compose.yml', '/services/auth/environment', /auth leaves DB_POOL_MAX unset/],
      ['docker-compose.yml', '/services/migrate/environment', /migrate leaves DB_POOL_MAX unset/],
      [
        'docker-compose.yml',
        '/services/account/secrets/4',
        /account mounts \/run\/secrets\/device-ca\.key, which no secret it reads names/,
      ],
      ['docker-compose.yml', '/services/transfer/secrets/4', /transfer mounts \/run\/secrets\/server\.key/],
      ['docker-compose.yml', '/services/transfer/secrets', /transfer mounts kfrm_server_key, the server key: only the edge may hold it/],
      ['docker-compose.yml', '/services/user/environment/KFRM_USER_DATA_KEY_FILE', /is not a file user mounts from a secret/],
      ['docker-compose.yml', '/services/casa/environment/KFRM_E2E_KEK_FILE', /casa sets KFRM_E2E_KEK_FILE, which its code does not read/],
      [
        'docker-compose.yml',
        '/services/funding/environment/KONAPLATE_URL',
        /funding needs KONAPLATE_URL .*\(or KFRM_FUNDING_SANDBOXES=true\)/,
      ],
      ['docker-compose.yml', '/services/funding/environment/KAKAOCERT_SECRET_KEY', /funding needs KAKAOCERT_SECRET_KEY/],
      ['docker-compose.yml', '/services/edge/ports', /operator address on 127\.0\.0\.1:50052/],
      [
        'docker-compose.yml',
        '/services/tab-menu/environment/KFRM_EDGE_REFLECTION_SERVICES',
        /needs KFRM_EDGE_REFLECTION_SERVICES on tab-menu set to what it lists \(differs\)/,
      ],
      [
        'deploy/services/tab-menu.yaml',
        '/spec/template/spec/containers/0/env/0',
        /KFRM_EDGE_REFLECTION_SERVICES must list every phone-facing service/,
      ],
      [
        'deploy/compose/edge/nginx.conf',
        '',
        /location \/kfrm\.api\.funding\.FundingService\/ goes to transfer, but the funding module serves kfrm\.api\.funding/,
      ],
      ['deploy/compose/edge/nginx.conf', '', /\/kfrm\.api\.notification\. is not routed \(the notification module serves it\)/],
      ['deploy/compose/edge/nginx.conf', '', /casa:50052 is not casa's edge listener \(50061\)/],
    ];
    for (const [file, path, message] of expected) {
      expect(find(problems, file, path, message), `${file} ${path} ${message}\n${problems.map(formatProblem).join('\n')}`).toBeDefined();
    }
  });

  it('checks that the documented number of compose service containers fits max_connections', () => {
    const dir = copyDeployFiles();
    copies.push(dir);
    edit(dir, 'docker-compose.yml', 'max-service-containers: 38', 'max-service-containers: 39');
    const messages = validateDeploy({ deployRoot: dir, sourceRoot: repo }).problems.map(formatProblem);
    expect(messages).toEqual([
      expect.stringMatching(
        /^docker-compose\.yml:\d+ \/services\/postgres\/command: 39 service containers x DB_POOL_MAX 5 \+ migrate 5 \+ 3 reserved = 203 connections, more than max_connections=200$/,
      ),
    ]);
  });

  it('reports each way the Kubernetes split goes wrong: routes, edge annotations, secret scope, pools, network policy', () => {
    const dir = copyDeployFiles();
    copies.push(dir);
    // Ingress: funding's package sent to transfer, notification's package not routed, the
    // client certificate verified by nginx instead of passed through, nginx's default read
    // timeout, a Prefix path, a Service whose edge port targets the internal listener.
    edit(dir, 'deploy/ingress.yaml', /(- path: \/kfrm\.api\.funding\.\n[\s\S]*?name: )funding/, '$1transfer');
    edit(dir, 'deploy/ingress.yaml', /( {10}- path: \/kfrm\.api\.notification\.\n(?: {12}.*\n)+)/, '');
    edit(dir, 'deploy/ingress.yaml', 'auth-tls-verify-client: "optional_no_ca"', 'auth-tls-verify-client: "on"');
    edit(dir, 'deploy/ingress.yaml', 'proxy-read-timeout: "43200"', 'proxy-read-timeout: "60"');
    edit(dir, 'deploy/ingress.yaml', /(- path: \/kfrm\.api\.casa\.\n {12}pathType: )ImplementationSpecific/, '$1Prefix');
    edit(dir, 'deploy/services/tab-menu.yaml', /(port: 50061\n {6}targetPort: )grpc-edge/, '$1grpc-internal');
    // Secrets: the device CA key where account's internal certificate belongs, the server key in
    // the user pods, funding without sandboxes or credentials.
    edit(dir, 'deploy/services/account.yaml', 'secretName: kfrm-internal-account', 'secretName: kfrm-device-ca-key');
    edit(dir, 'deploy/services/user.yaml', 'secretName: kfrm-device-ca-cert', 'secretName: kfrm-server-tls');
    edit(dir, 'deploy/configmap.yaml', 'KFRM_FUNDING_SANDBOXES: "true"', 'KFRM_FUNDING_SANDBOXES: "false"');
    // Pools: one more connection per pod is 30 more at a rollout. NetworkPolicy: the edge port open to all.
    edit(dir, 'deploy/configmap.yaml', 'DB_POOL_MAX: "3"', 'DB_POOL_MAX: "4"');
    edit(
      dir,
      'deploy/network-policy.yaml',
      /- from:\n {8}- namespaceSelector:\n {12}matchLabels:\n {14}kubernetes\.io\/metadata\.name: kfrm-edge\n {10}podSelector:\n(?: {12}.*\n)+? {6}ports:/,
      '- ports:',
    );

    // The edge controller: upstreams not verified, a phone's x-ssl-client-der passed through.
    edit(dir, 'deploy/edge-controller/controller-config.example.yaml', '    grpc_ssl_verify on;\n', '');
    edit(dir, 'deploy/edge-controller/request-headers.yaml', '  x-ssl-client-der: ""\n', '');

    const { problems } = validateDeploy({ deployRoot: dir, sourceRoot: repo });
    const expected: [string, string, RegExp][] = [
      [
        'deploy/ingress.yaml',
        '/spec/rules/0/http/paths/0/backend',
        /\/kfrm\.api\.funding\. goes to transfer \(transfer\), but the funding module serves it/,
      ],
      ['deploy', '', /no Ingress path routes \/kfrm\.api\.notification\. \(the notification module serves it\)/],
      ['deploy/ingress.yaml', '/metadata/annotations/nginx.ingress.kubernetes.io~1auth-tls-verify-client', /must be "optional_no_ca"/],
      [
        'deploy/ingress.yaml',
        '/metadata/annotations/nginx.ingress.kubernetes.io~1proxy-read-timeout',
        /60 s would cut an idle notification stream/,
      ],
      ['deploy/ingress.yaml', '/spec/rules/0/http/paths/0/pathType', /needs ImplementationSpecific/],
      [
        'deploy/ingress.yaml',
        '/spec/rules/0/http/paths/0/backend',
        /\/kfrm\.api\.tabmenu\. reaches tab-menu on 50052, not its edge listener \(50061\)/,
      ],
      [
        'deploy/services/account.yaml',
        '/spec/template/spec/containers/0/volumeMounts/2',
        /account mounts \/etc\/kfrm\/internal\/device-ca\.key, which no secret it reads names/,
      ],
      [
        'deploy/services/account.yaml',
        '/spec/template/spec/containers/0/envFrom/0',
        /KFRM_INTERNAL_TLS_CERT_FILE=\/etc\/kfrm\/internal\/tls\.crt is not a file account mounts/,
      ],
      ['deploy', '', /Secret kfrm-server-tls \(the server key\) is mounted by user: only the Ingress may hold it/],
      [
        'deploy/services/funding.yaml',
        '/spec/template/spec/containers/0',
        /funding needs KONAPLATE_SECRET_KEY .*\(or KFRM_FUNDING_SANDBOXES=true\)/,
      ],
      ['deploy/configmap.yaml', '/metadata/annotations/kfrm~1postgres-max-connections', /= 129 connections, more than max_connections=100/],
      ['deploy/network-policy.yaml', '/spec/ingress/0', /lets anyone reach the edge listener \(50061\)/],
      [
        'deploy/edge-controller/controller-config.example.yaml',
        '/data/http-snippet',
        /grpc_ssl_verify on: the edge must check whom it calls/,
      ],
      [
        'deploy/edge-controller/controller-config.example.yaml',
        '/data/proxy-set-headers',
        /a phone could send its own x-ssl-client-der through the edge/,
      ],
    ];
    for (const [file, path, message] of expected) {
      expect(find(problems, file, path, message), `${file} ${path} ${message}\n${problems.map(formatProblem).join('\n')}`).toBeDefined();
    }
  });
});
