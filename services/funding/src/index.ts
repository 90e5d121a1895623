export { fundingModule } from './funding.module';
