export { userModule } from './user.module';
