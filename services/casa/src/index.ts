export { casaModule } from './casa.module';
