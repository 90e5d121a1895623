export { casaModule, createCasaModule, CASA_SCHEMA } from './casa.module';
