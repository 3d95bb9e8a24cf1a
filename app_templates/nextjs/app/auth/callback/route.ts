import { callback } from "@/lib/handlers.mjs";

export const dynamic = "force-dynamic";
export const GET = (request: Request) => callback(request);
