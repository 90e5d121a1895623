// Which service owns which gRPC service, read from the service modules themselves (what each
// module's `create` registers on the mobile and internal listeners), never from a hand-kept
// list: the nginx edge config (scripts/edge-config.ts) and the split run (scripts/start-split.ts)
// route by it, so a service added to packages/backend/src/service-modules.ts is routed at once.
//
//   node --import tsx scripts/edge-routes.ts      → prints the table
import { pathToFileURL } from 'node:url';
import { describeModuleRegistrations, type ServiceModule } from '@kfrm/runtime';
import { serviceModules } from '../packages/backend/src/service-modules';

export interface ServiceRoutes {
  /** The module's name: its folder under services/, its process and compose service name. */
  service: string;
  /** Full gRPC service names it serves to phones (`kfrm.api.tabmenu.TabMenuService`). */
  mobile: string[];
  /** Full gRPC service names it serves on its internal listener. */
  internal: string[];
}

/** Each module's registrations (built as its process would; see describeModuleRegistrations), checked. */
export async function deriveServiceRoutes(modules: ServiceModule[] = serviceModules): Promise<ServiceRoutes[]> {
  const routes = (await describeModuleRegistrations(modules)).map(({ module, mobile, internal }) => ({
    service: module,
    mobile,
    internal,
  }));
  checkOneOwnerEach(routes);
  return routes;
}

/** "kfrm.api.user.UserService" → "user": the package KFRM_INTERNAL_TARGET_<PKG> names. */
export function protoPackageOf(serviceName: string): string {
  const match = /^kfrm\.api\.([a-z0-9_]+)\.[A-Za-z0-9]+$/.exec(serviceName);
  if (!match) throw new Error(`not a kfrm service name: ${serviceName}`);
  return match[1]!;
}

/**
 * Each gRPC service has one owner, and the internal services of one proto package live in one
 * service (internal clients are routed per package: KFRM_INTERNAL_TARGET_<PKG>).
 */
function checkOneOwnerEach(routes: ServiceRoutes[]): void {
  const owner = new Map<string, string>();
  const packageOwner = new Map<string, string>();
  for (const { service, mobile, internal } of routes) {
    for (const name of [...mobile, ...internal]) {
      const other = owner.get(name);
      if (other && other !== service) throw new Error(`${name} is served by both ${other} and ${service}`);
      owner.set(name, service);
    }
    for (const name of internal) {
      const pkg = protoPackageOf(name);
      const other = packageOwner.get(pkg);
      if (other && other !== service) throw new Error(`internal services of package ${pkg} are in both ${other} and ${service}`);
      packageOwner.set(pkg, service);
    }
  }
}

/** KFRM_INTERNAL_TARGET_<PKG> for a process whose peers' internal listeners are at `internalAddress(service)`. */
export function internalTargetsEnv(routes: ServiceRoutes[], internalAddress: (service: string) => string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { service, internal } of routes) {
    for (const name of internal) env[`KFRM_INTERNAL_TARGET_${protoPackageOf(name).toUpperCase()}`] = internalAddress(service);
  }
  return env;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const route of await deriveServiceRoutes()) {
    process.stdout.write(
      `${route.service}\n  mobile:   ${route.mobile.join(', ') || '-'}\n  internal: ${route.internal.join(', ') || '-'}\n`,
    );
  }
}
