import type { ResourceTag } from "../cloud/cloud.js";
import { filterPredicate, paginate } from "../cloud/filters.js";
import type { Handler } from "./call.js";
import { filters, intParam, listParam, stringParam, structList } from "./query.js";

/** CreateTags, DeleteTags, DescribeTags: images, snapshots, instances and their volumes. */
export const TAG_ACTIONS: Record<string, Handler> = {
  CreateTags: (cloud, { accountId, region, params }) => {
    const op = "CreateTags";
    const tags = structList(params, "Tag", op).map((t) => ({ key: String(t.Key ?? ""), value: String(t.Value ?? "") }));
    cloud.createTags(accountId, region, listParam(params, "ResourceId", op), tags);
    return { return: true };
  },

  DeleteTags: (cloud, { accountId, region, params }) => {
    const op = "DeleteTags";
    const tags = structList(params, "Tag", op).map((t) => ({ key: String(t.Key ?? ""), ...(t.Value !== undefined ? { value: String(t.Value) } : {}) }));
    cloud.deleteTags(accountId, region, listParam(params, "ResourceId", op), tags);
    return { return: true };
  },

  DescribeTags: (cloud, { accountId, region, params }) => {
    const op = "DescribeTags";
    const matches = filterPredicate<ResourceTag>(
      { "resource-id": (t) => [t.resourceId], "resource-type": (t) => [t.resourceType], key: (t) => [t.key], value: (t) => [t.value] },
      () => [],
      filters(params, op),
      op,
    );
    const page = paginate(cloud.describeTags(accountId, region).filter(matches), intParam(params, "MaxResults", { op }), stringParam(params, "NextToken", { op }), op);
    return { tagSet: page.items, nextToken: page.nextToken };
  },

};
