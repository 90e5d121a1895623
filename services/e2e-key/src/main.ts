// Composition root for running the e2e-key service alone (see README for its variables).
import { runService } from '@kfrm/runtime';
import { e2eKeyModule } from './e2e-key.module';

await runService([e2eKeyModule], { name: 'e2e-key' });
