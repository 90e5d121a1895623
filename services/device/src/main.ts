// Composition root for running the device service alone (see README for its variables).
import { runService } from '@kfrm/runtime';
import { deviceModule } from './device.module';

await runService([deviceModule], { name: 'device' });
