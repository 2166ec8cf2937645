{#- Rounds a money expression to whole cents. -#}
{% macro to_cents(expr) -%}
cast(round({{ expr }} * 100) as bigint)
{%- endmacro %}
