// Composition root for running the account service alone (see README for its variables).
import { runService } from '@kfrm/runtime';
import { accountModule } from './account.module';

await runService([accountModule], { name: 'account' });
