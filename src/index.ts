/**
 * hesse's library API: the same operations as the `hesse` command, with typed options and results.
 *
 *   import { resnet, synthetic, analyze, CIFAR10_NORMALIZATION } from 'hesse';
 */
export { analyze, type AnalyzeOptions, type AnalyzeOutput } from './api/analyze.js';
export {
  ANALYSIS_STAGES,
  EIGEN_METHODS,
  TRACE_METHODS,
  type EigenMethod,
  type TraceMethod,
  type EigenOptions,
  type TraceOptions,
  type DensityOptions,
  type DiagonalOptions,
  type PerLayerOptions,
  type StageRequests,
} from './api/analysisStages.js';
export { type CurvatureDataOptions } from './api/curvatureData.js';
export { type InputsDescription } from './api/commandResults.js';
export { landscapeRun, type LandscapeRunOptions, type LandscapeOutput } from './api/landscapeRun.js';
export { trainRun, trainingSection, type TrainRunOptions } from './api/trainRun.js';
export { runDemo, DEMO_FULL, DEMO_QUICK, type DemoOptions } from './api/demo.js';
export { openModelAndData, type ModelAndData, type ModelAndDataOptions } from './api/modelAndData.js';
export { parseDataArg, openDataArg, defaultNormalization } from './api/dataArg.js';
export { parseArch, loadModelArg } from './api/modelArg.js';
export { study, studySettings, studySummary, type StudyOptions, type StudyOutput } from './api/study.js';
export { STUDY_PRESETS, STUDY_DEFAULTS, PRESET_NAMES, type StudyRecipe, type PresetName } from './api/studyPresets.js';
export { STUDY_VARIANTS, VARIANT_NAMES, VARIANT_GROUPS, type VariantSpec, type StudyRun } from './api/studyVariants.js';
export { VERDICT_RULES, VERDICT_RULE_TEXT, compareVariants, studyVerdicts } from './api/studyVerdict.js';
export { estimateStudy, type StudyEstimate } from './api/studyEstimate.js';
export { serveStudy, type StudyClusterOptions, type StudyWorkerOptions } from './api/studyCluster.js';
export { type StudyEvent } from './api/studyRun.js';
export { type StudySettings } from './api/studySettings.js';

export * from './errors.js';
export { Tensor, Rng, type Shape } from './tensor/index.js';
export { kernels, kernelsInfo } from './kernels/index.js';
export { SecondOrderContext, valueAndGrad } from './autodiff/index.js';
export {
  resnet,
  mlp,
  buildModel,
  describeModel,
  Model,
  lossAndGradient,
  secondOrder,
  evaluateBatch,
  lossOf,
  batchSize,
  onnxModel,
  supportedOperators,
  UnsupportedGraphError,
  type ModelDescription,
  type AnyModelDescription,
  type OnnxDescription,
  type ObjectiveOptions,
  type LossKind,
  type ParamKind,
  type ResNetDescription,
  type MlpDescription,
  type BatchNormSetting,
  type ParamBlock,
  type Batch,
  type BnMode,
} from './nn/index.js';
export {
  synthetic,
  loadCifar10,
  loadCifar100,
  downloadDataset,
  DataLoader,
  hessianBatch,
  CIFAR10_NORMALIZATION,
  TensorSet,
  type Dataset,
  type AnyDataset,
  type DatasetSpec,
  type Normalization,
} from './data/index.js';
export { train, evaluate, Sgd, lrSchedule, DivergenceError, type TrainOptions, type EpochRecord } from './train/index.js';
export {
  loadModel,
  saveModel,
  stateDict,
  loadStateDict,
  readSafetensors,
  writeSafetensors,
  loadTrainState,
  openDataset,
  loadTensorDataset,
  saveTensorDataset,
  loadTensorSet,
  loadTensorData,
  loadOnnx,
  parseOnnx,
  type OnnxLoadOptions,
} from './io/index.js';
export {
  curvatureOperator,
  hessianOperator,
  datasetHessianOperator,
  executorOperator,
  inProcessExecutor,
  planShards,
  restrictOperator,
  selectBlocks,
  layerGroups,
  type CurvatureOperator,
  type CurvatureKind,
  type CurvatureOptions,
  type ExecutorFactory,
  type ShardExecutor,
  type ShardPlan,
} from './curvature/index.js';
export {
  powerIteration,
  lanczosEigs,
  hutchinson,
  hutchPlusPlus,
  xtrace,
  hutchinsonDiagonal,
  slq,
  densityOnGrid,
  denseOperator,
  type LinearOperator,
} from './linalg/index.js';
export { landscape1d, landscape2d, filterNormalizedDirection, batchEvaluator } from './landscape/index.js';
export { threadExecutor, clusterExecutor, runWorker, redactCredentials, type ClusterOptions } from './parallel/index.js';
export { createResults, writeReport, rebuildReport, readResults, prepareOutputFolder, type HesseResults } from './report/index.js';
