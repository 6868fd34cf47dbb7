{#- The SQL is the macro stg_okendo__referrals (macros/staging/): an incremental build renders it
    over the touched customers' rows (okendo_staged). -#}
{{ stg_okendo__referrals() }}
