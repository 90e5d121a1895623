export { createTransferModule, transferModule, TRANSFER_SCHEMA } from './transfer.module';
export { signedContent, processContext } from './canonical';
