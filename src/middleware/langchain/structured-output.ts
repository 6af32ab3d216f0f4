import type {
  BaseLanguageModelInput,
  StructuredOutputMethodOptions,
} from "@langchain/core/language_models/base";
import { BaseChatModel, type BindToolsInput } from "@langchain/core/language_models/chat_models";
import {
  assembleStructuredOutputPipeline,
  createFunctionCallingParser,
} from "@langchain/core/language_models/structured_output";
import { Runnable, type RunnableConfig } from "@langchain/core/runnables";
import { toJsonSchema } from "@langchain/core/utils/json_schema";
import { isSerializableSchema } from "@langchain/core/utils/standard_schema";
import { getSchemaDescription, isInteropZodSchema } from "@langchain/core/utils/types";
import { UnsupportedClientError } from "../../core/errors.ts";

/** How deep into a structured-output pipeline the check for an ungoverned model looks. */
const PIPELINE_DEPTH_MAX = 12;

/** What structured output needs of the governed model: new bindings of itself. */
export interface GovernedBindings {
  withConfig(config: Partial<RunnableConfig>): Runnable;
  bindTools(tools: BindToolsInput[], kwargs?: unknown): Runnable;
}

type StructuredOutputOf = (
  this: unknown,
  schema: unknown,
  config?: StructuredOutputMethodOptions<boolean>,
) => Runnable<BaseLanguageModelInput, unknown>;

/**
 * The wrapped model's own `withStructuredOutput`, with every request routed through the governed
 * model. ChatOpenAI, ChatAnthropic and other provider packages build the structured call as
 * `this.withConfig({ tools, tool_choice | response_format | outputConfig,
 * ls_structured_output_format })` or `this.bindTools(…)` piped into their parsers; they run here
 * with `this` a view of the wrapped model whose withConfig and bindTools answer with the governed
 * model, so the provider's request options and parsers are its own and the governed model stays
 * the boundary. A pipeline that still reaches the wrapped model some other way is refused rather
 * than run ungoverned. A model with only LangChain's base implementation gets toolCallingOutput.
 */
export function governedStructuredOutput(
  inner: object,
  governed: GovernedBindings,
  schema: unknown,
  config: StructuredOutputMethodOptions<boolean> | undefined,
  provider: string,
): Runnable<BaseLanguageModelInput, unknown> {
  const own = (inner as { withStructuredOutput?: unknown }).withStructuredOutput;
  if (typeof own !== "function") {
    throw new UnsupportedClientError(
      `the wrapped ${provider} model has no withStructuredOutput; wrap the chat model itself, not a binding of it`,
    );
  }
  if (own === BaseChatModel.prototype.withStructuredOutput)
    return toolCallingOutput(governed, schema, config);
  const view = Object.create(inner, {
    withConfig: { value: (bound: Partial<RunnableConfig>) => governed.withConfig(bound) },
    bindTools: { value: (tools: BindToolsInput[], kwargs?: unknown) => governed.bindTools(tools, kwargs) },
  }) as object;
  const pipeline = (own as StructuredOutputOf).call(view, schema, config);
  if (reachesModel(pipeline, inner, new Set(), 0)) {
    throw new UnsupportedClientError(
      `the wrapped ${provider} model's withStructuredOutput calls the model outside withConfig and bindTools, ` +
        "so usertrust cannot govern it; use createAgent({ responseFormat }) with usertrustAgentMiddleware",
    );
  }
  return pipeline;
}

/**
 * LangChain's base withStructuredOutput, for a model with none of its own: the schema as one
 * function tool bound through the governed model. The base's own parser accepts only message
 * chunks, which an invoke does not return; this one takes any AI message (and validates zod and
 * standard schemas).
 */
function toolCallingOutput(
  governed: GovernedBindings,
  schema: unknown,
  config: StructuredOutputMethodOptions<boolean> | undefined,
): Runnable<BaseLanguageModelInput, unknown> {
  if ((config?.method ?? "functionCalling") !== "functionCalling" || config?.strict !== undefined) {
    throw new UnsupportedClientError(
      "the wrapped model has no withStructuredOutput of its own: only method functionCalling, without strict, is available",
    );
  }
  const typed = isInteropZodSchema(schema) || isSerializableSchema(schema);
  const named = !typed && typeof (schema as { name?: unknown }).name === "string";
  const name = named ? (schema as { name: string }).name : (config?.name ?? "extract");
  const parameters = typed ? toJsonSchema(schema) : schema;
  const description =
    getSchemaDescription(schema as Record<string, unknown>) ?? "A function available to call.";
  const tools = [{ type: "function", function: { name, description, parameters } }] as BindToolsInput[];
  const parser = createFunctionCallingParser(schema as Record<string, unknown>, name);
  return assembleStructuredOutputPipeline(governed.bindTools(tools), parser, config?.includeRaw === true);
}

/**
 * Whether the pipeline holds the wrapped model, the view of it or another model of its class
 * anywhere in its runnables (sequence steps, bindings, maps, fallbacks).
 */
function reachesModel(node: unknown, inner: object, seen: Set<unknown>, depth: number): boolean {
  if (depth > PIPELINE_DEPTH_MAX || typeof node !== "object" || node === null || seen.has(node)) return false;
  seen.add(node);
  if (node === inner || node instanceof (inner.constructor as new () => object)) return true;
  const children = Runnable.isRunnable(node) || Array.isArray(node) ? Object.values(node) : [];
  return children.some((child) => {
    const values = isPlainRecord(child) ? Object.values(child) : [child];
    return values.some((value) => reachesModel(value, inner, seen, depth + 1));
  });
}

/** A record of runnables, as RunnableMap keeps its steps. */
function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}
