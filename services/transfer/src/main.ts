// Composition root for running the transfer service alone (see README for its variables).
import { runService } from '@kfrm/runtime';
import { transferModule } from './transfer.module';

await runService([transferModule], { name: 'transfer' });
