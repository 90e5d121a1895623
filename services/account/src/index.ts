export { accountModule } from './account.module';
