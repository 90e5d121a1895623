// Composition root for running the funding service alone (see README for its variables).
import { runService } from '@kfrm/runtime';
import { fundingModule } from './funding.module';

await runService([fundingModule], { name: 'funding' });
