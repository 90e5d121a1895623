export { e2eKeyModule } from './e2e-key.module';
