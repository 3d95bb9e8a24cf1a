import { login } from "@/lib/handlers.mjs";

export const dynamic = "force-dynamic";
export const GET = (request: Request) => login(request);
