// Composition root for running the casa service alone (see README for its variables).
import { runService } from '@kfrm/runtime';
import { casaModule } from './casa.module';

await runService([casaModule], { name: 'casa' });
