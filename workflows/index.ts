/** The single workflowsPath entry: every workflow type the worker registers. */
export { chatWorkflow } from './chat.workflow';
