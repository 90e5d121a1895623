export { transferModule } from './transfer.module';
