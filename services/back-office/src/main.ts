// Composition root for running the back-office console alone (see README for its variables).
import { runService } from '@kfrm/runtime';
import { backOfficeModule } from './back-office.module';

await runService([backOfficeModule], { name: 'back-office' });
