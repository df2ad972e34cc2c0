/**
 * The map's points: deck.gl's ScatterplotLayer drawn as one GL point per feature instead of one
 * instanced quad.
 *
 * Why not ScatterplotLayer itself: software WebGL (Chromium without a GPU, which is SwiftShader
 * behind ANGLE) pays a fixed cost per instance. Timed in headless Chromium on the build machine,
 * 147,550 instanced quads took 2.8–3.5 s a frame with a trivial shader whatever their size, and
 * the same points as `gl.POINTS` 0.3–1.2 s; deck.gl's own layer at a zoomed 1M atlas took ~2 s a
 * frame. On a GPU both are milliseconds. So this layer keeps everything of ScatterplotLayer that
 * the map uses (its props and uniforms, project32 with the model matrix, picking and autoHighlight)
 * and changes only the geometry: the attributes step per vertex, the model draws a point list, the
 * vertex shader sizes the point and the fragment shader cuts the circle out of it.
 *
 * Limits, all outside what the map asks for: filled circles only (no stroke, no billboard=false,
 * no pixel offsets, no WebGPU shaders), radii in pixels, and a point larger than the GPU's
 * ALIASED_POINT_SIZE_RANGE (64 px or more on common GPUs; the map's points are at most 15 px
 * across) is drawn at that size. A point is clipped whole once its centre leaves the viewport.
 */
import { Layer, type DefaultProps } from "@deck.gl/core";
import { ScatterplotLayer, type ScatterplotLayerProps } from "@deck.gl/layers";
import { Model } from "@luma.gl/engine";

const vs = /* glsl */ `\
#version 300 es
#define SHADER_NAME atlas-point-layer-vertex-shader
in vec3 instancePositions;
in vec3 instancePositions64Low;
in float instanceRadius;
in vec4 instanceFillColors;
out vec4 vFillColor;
out float outerRadiusPixels;
out float edgePadding;
void main(void) {
  geometry.worldPosition = instancePositions;
  outerRadiusPixels = clamp(
    project_size_to_pixel(scatterplot.radiusScale * instanceRadius, scatterplot.radiusUnits),
    scatterplot.radiusMinPixels, scatterplot.radiusMaxPixels
  );
  edgePadding = scatterplot.antialiasing ? (outerRadiusPixels + SMOOTH_EDGE_RADIUS) / outerRadiusPixels : 1.0;
  // The point's row is its vertex: picking colours come from gl_VertexID as the quad's came from gl_InstanceID.
  geometry.pickingColor = picking_getPickingColorFromIndex(float(gl_VertexID));
  gl_Position = project_position_to_clipspace(instancePositions, instancePositions64Low, vec3(0.0), geometry.position);
  DECKGL_FILTER_GL_POSITION(gl_Position, geometry);
  gl_PointSize = 2.0 * edgePadding * outerRadiusPixels * project.devicePixelRatio;
  vFillColor = vec4(instanceFillColors.rgb, instanceFillColors.a * layer.opacity);
  DECKGL_FILTER_COLOR(vFillColor, geometry);
}
`;

const fs = /* glsl */ `\
#version 300 es
#define SHADER_NAME atlas-point-layer-fragment-shader
precision highp float;
in vec4 vFillColor;
in float outerRadiusPixels;
in float edgePadding;
out vec4 fragColor;
void main(void) {
  vec2 unitPosition = edgePadding * (gl_PointCoord * 2.0 - 1.0);
  geometry.uv = unitPosition;
  float distToCenter = length(unitPosition) * outerRadiusPixels;
  float inCircle = scatterplot.antialiasing ? smoothedge(distToCenter, outerRadiusPixels) : step(distToCenter, outerRadiusPixels);
  if (inCircle == 0.0) discard;
  fragColor = vFillColor;
  fragColor.a *= inCircle;
  DECKGL_FILTER_COLOR(fragColor, geometry);
}
`;

export class PointLayer<D = unknown> extends ScatterplotLayer<D> {
  static override layerName = "PointLayer";
  // Radii in pixels, filled: what the shaders above draw, whatever stroke or billboard props say.
  // deck.gl merges ScatterplotLayer's defaults under these (create-props.ts walks the classes).
  static override defaultProps: DefaultProps<ScatterplotLayerProps> = { radiusUnits: "pixels", stroked: false };

  override getShaders() {
    return Layer.prototype.getShaders.call(this, { vs, fs, modules: super.getShaders().modules });
  }

  override initializeState(): void {
    // ScatterplotLayer's attributes, stepping per vertex (add, not addInstanced).
    this.getAttributeManager()!.add({
      instancePositions: { size: 3, type: "float64", fp64: this.use64bitPositions(), accessor: "getPosition" },
      instanceRadius: { size: 1, accessor: "getRadius", defaultValue: 1 },
      instanceFillColors: { size: this.props.colorFormat.length, type: "unorm8", accessor: "getFillColor", defaultValue: [0, 0, 0, 255] },
    });
  }

  override draw(opts: { uniforms: unknown }): void {
    // deck.gl sets the instance count of instanced models only; this one draws a point a row.
    (this.state["model"] as Model).setVertexCount(this.getNumInstances());
    super.draw(opts as Parameters<ScatterplotLayer<D>["draw"]>[0]);
  }

  protected override _getModel(): Model {
    return new Model(this.context.device, {
      ...this.getShaders(),
      id: this.props.id,
      bufferLayout: this.getAttributeManager()!.getBufferLayouts({ isInstanced: false }),
      topology: "point-list",
      isInstanced: false,
      vertexCount: 0,
    });
  }
}
