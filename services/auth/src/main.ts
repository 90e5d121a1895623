// Composition root for running the auth service alone (see README for its variables).
import { runService } from '@kfrm/runtime';
import { authModule } from './auth.module';

await runService([authModule], { name: 'auth' });
