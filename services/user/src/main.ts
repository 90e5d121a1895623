// Composition root for running the user service alone (see README for its variables).
import { runService } from '@kfrm/runtime';
import { userModule } from './user.module';

await runService([userModule], { name: 'user' });
