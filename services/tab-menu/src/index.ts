export { tabMenuModule } from './tab-menu.module';
