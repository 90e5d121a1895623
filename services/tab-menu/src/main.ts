// Composition root for running the tab-menu service alone (see README for its variables).
import { runService } from '@kfrm/runtime';
import { tabMenuModule } from './tab-menu.module';

await runService([tabMenuModule], { name: 'tab-menu' });
