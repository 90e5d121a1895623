export { serviceModules } from './service-modules';
