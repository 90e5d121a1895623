import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    edit(dir, 'deploy/services/casa.yaml', /startupProbe:\n(\s+)grpc:\n(\s+)port: 50052/, 'startupProbe:\n$1grpc:\n$2port: "50052"');
    edit(dir, 'deploy/services/user.yaml', /defaultMode: 288.*/, 'defaultMode: 0440');
    edit(dir, 'deploy/migrate-job.yaml', 'secretName: kfrm-e2e-kek', 'secretName: kfrm-e2e-keys');
    edit(dir, 'deploy/services/device.yaml', 'targetPort: grpc-internal', 'targetPort: grpc-intern');
    edit(dir, 'deploy/kustomization.yaml', '  - services/funding.yaml\n', '');
    // Compose: a misspelt health check option, a bad port mapping, a dependency on nothing.
    edit(dir, 'docker-compose.yml', '    interval: 30s', '    intervall: 30s');
    edit(dir, 'docker-compose.yml', '"127.0.0.1:50108:50051"', '"127.0.0.1:50108:grpc"');
    edit(dir, 'docker-compose.yml', /(\n {2}migrate:\n[\s\S]*?depends_on:\n\s+)postgres:/, '$1postgress:');
    // Dockerfile: an impossible port and an entry point that does not exist.
    edit(dir, 'Dockerfile', 'EXPOSE 50051 50052', 'EXPOSE 50051 internal');
    edit(dir, 'Dockerfile', 'CMD ["dist/backend.mjs"]', 'CMD ["dist/server.mjs"]');

    const { problems } = validateDeploy({ deployRoot: dir, sourceRoot: repo });
    const expected: [string, string, RegExp][] = [
      ['deploy/services/auth.yaml', '/spec/template/spec/containers/0/readinesProbe', /unknown field "readinesProbe"/],
      ['deploy/services/casa.yaml', '/spec/template/spec/containers/0/startupProbe/grpc/port', /must be integer/],
      ['deploy/services/user.yaml', '/spec/template/spec/volumes/1/secret/defaultMode', /YAML 1\.1/],
      ['deploy/migrate-job.yaml', '/spec/template/spec/volumes/3', /Secret "kfrm-e2e-keys" is not defined/],
      ['deploy/services/device.yaml', '/spec/ports/1/targetPort', /no container port named "grpc-intern"/],
      ['deploy/services/funding.yaml', '', /not listed in any kustomization/],
      ['docker-compose.yml', '/services/tab-menu/healthcheck', /additional properties \(intervall\)/],
      ['docker-compose.yml', '/services/tab-menu/ports/0', /format "ports"/],
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
});
